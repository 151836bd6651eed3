// Environments (docs/lsp-extensions.md: `databook/environments` and the
// command `databook.setEnvironment`): what the status bar item says and what
// the quick pick offers. Kept free of any `vscode` import so that `npm test`
// can run it in Node.

export const ENVIRONMENTS = "databook/environments";
export const SET_ENVIRONMENT = "databook.setEnvironment";

/** The answer of `databook/environments` and of `databook.setEnvironment`. */
export interface EnvironmentsState {
  current: string | null;
  environments: string[];
}

/** Checks a value received as an `EnvironmentsState`; returns a message when it is not one. */
export function checkEnvironments(value: unknown): string | null {
  if (value === null || typeof value !== "object") return "the answer is not an object";
  const o = value as Record<string, unknown>;
  if (o.current !== null && typeof o.current !== "string") return `"current" must be a string or null, not ${JSON.stringify(o.current)}`;
  if (!Array.isArray(o.environments) || o.environments.some((e) => typeof e !== "string")) {
    return `"environments" must be a list of names, not ${JSON.stringify(o.environments)}`;
  }
  return null;
}

export interface StatusView {
  /** False when the workspace defines no environment: there is nothing to pick. */
  visible: boolean;
  text: string;
  tooltip: string;
}

/** The status bar item for `state` (undefined before the server answered). */
export function statusView(state: EnvironmentsState | undefined): StatusView {
  // A workspace without environments gets no item, so that notebooks that do
  // not use them keep a quiet status bar. The palette command still says why
  // there is nothing to pick.
  if (!state || (state.environments.length === 0 && state.current === null)) {
    return { visible: false, text: "", tooltip: "" };
  }
  const count = `${state.environments.length} defined in databook.toml`;
  if (state.current === null) {
    return {
      visible: true,
      text: "$(server-environment) Databook: no environment",
      tooltip: `Databook runs with [env] alone (${count}). Click to select an environment.`,
    };
  }
  return {
    visible: true,
    text: `$(server-environment) Databook: ${state.current}`,
    tooltip: `Databook runs in the environment ${state.current} (${count}). Click to select another.`,
  };
}

export interface EnvironmentChoice {
  label: string;
  description?: string;
  /** The argument of `databook.setEnvironment`: a name, or null for none. */
  value: string | null;
}

/** What the quick pick offers: each environment, then "(none)"; the current one says so. */
export function environmentChoices(state: EnvironmentsState): EnvironmentChoice[] {
  const choices: EnvironmentChoice[] = state.environments.map((name) => ({
    label: name,
    description: name === state.current ? "current" : undefined,
    value: name,
  }));
  choices.push({
    label: "(none)",
    description: state.current === null ? "current; [env] alone" : "[env] alone",
    value: null,
  });
  return choices;
}
