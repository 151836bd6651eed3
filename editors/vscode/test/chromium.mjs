// Debian's Chromium, headless, as the end-to-end tests start it: with the
// background networking, updates and sync this machine's closed network
// would refuse turned off, so that nothing but the page under test talks.
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
