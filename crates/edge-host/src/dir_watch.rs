//! What happens in a directory, as the Linux kernel reports it (inotify(7)): how a
//! test sees that a guest touched no file in its preopened directory. wasmtime-wasi
//! reaches the files through `openat` on the preopen's descriptor, which inotify
//! reports like any other open; a `stat` is not reported (inotify(7): no event for
//! metadata reads), everything that opens, reads, writes, creates, renames or removes
//! a file is.

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::io::Errno;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;

/// A watch on one directory (not its subdirectories).
pub struct DirWatch {
    fd: OwnedFd,
}

impl std::fmt::Debug for DirWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirWatch").finish_non_exhaustive()
    }
}

impl DirWatch {
    /// Starts watching `dir`: every open, read, write, close, create, rename, removal
    /// and attribute change of it or of a file in it from now on.
    pub fn new(dir: &Path) -> std::io::Result<DirWatch> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        inotify::add_watch(&fd, dir, WatchFlags::ALL_EVENTS)?;
        Ok(DirWatch { fd })
    }

    /// The events since the last call, each as `"<file> <what>"` (`"."` for the
    /// directory itself), in the order they happened.
    pub fn events(&self) -> std::io::Result<Vec<String>> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.fd, &mut buf);
        let mut out = Vec::new();
        loop {
            match reader.next() {
                Ok(event) => {
                    let name = event
                        .file_name()
                        .map_or(".".into(), |n| n.to_string_lossy().into_owned());
                    out.push(format!("{name} {:?}", event.events()));
                }
                // Non-blocking: nothing more is queued.
                Err(Errno::AGAIN) => return Ok(out),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
