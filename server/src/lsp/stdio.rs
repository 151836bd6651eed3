//! The server's stdin and stdout, read and written by the task that serves
//! them when they are pipes or sockets (editors start it so): tokio's own
//! stdin and stdout hand every read and write to a thread of its blocking
//! pool, and each hand-over is a wake-up of another thread, most of a
//! keystroke's round trip (BENCHMARKS.md).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

pub type Input = Box<dyn AsyncRead + Unpin + Send>;
pub type Output = Box<dyn AsyncWrite + Unpin + Send>;

/// Stdin and stdout, made non-blocking when they are pipes or sockets, and
/// tokio's blocking versions otherwise (a terminal, a file). Must be called
/// within the runtime.
pub fn stdio() -> (Input, Output) {
    let input = reader(std::io::stdin().as_fd()).unwrap_or_else(|| Box::new(tokio::io::stdin()));
    let output = writer(std::io::stdout().as_fd()).unwrap_or_else(|| Box::new(tokio::io::stdout()));
    (input, output)
}

/// What kind of file `fd` is, with a descriptor of its own for it (the
/// process's stdin and stdout stay open when it is dropped).
fn own(fd: BorrowedFd<'_>) -> Option<(File, std::fs::FileType)> {
    let file = File::from(fd.try_clone_to_owned().ok()?);
    let kind = file.metadata().ok()?.file_type();
    Some((file, kind))
}

fn reader(fd: BorrowedFd<'_>) -> Option<Input> {
    let (file, kind) = own(fd)?;
    if kind.is_fifo() {
        Some(Box::new(pipe::Receiver::from_file(file).ok()?))
    } else if kind.is_socket() {
        Some(Box::new(socket(file)?))
    } else {
        None
    }
}

fn writer(fd: BorrowedFd<'_>) -> Option<Output> {
    let (file, kind) = own(fd)?;
    if kind.is_fifo() {
        Some(Box::new(pipe::Sender::from_file(file).ok()?))
    } else if kind.is_socket() {
        Some(Box::new(socket(file)?))
    } else {
        None
    }
}

/// A socket (libuv, under VS Code and Neovim, gives a child a socket pair
/// for each of its standard streams).
fn socket(file: File) -> Option<tokio::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(file));
    stream.set_nonblocking(true).ok()?;
    tokio::net::UnixStream::from_std(stream).ok()
}
