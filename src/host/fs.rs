//! The file operations of [`Ports`](super::Ports) over `std::fs`, which on
//! `wasm32-wasip2` reaches `wasi:filesystem` in a preopened directory
//! (`wasmtime serve --dir HOST::/cache`). Natively they serve the unit tests.

use crate::ports::FileError;
use std::io::ErrorKind;

fn error(e: std::io::Error) -> FileError {
    FileError(e.kind().to_string())
}

pub fn read(path: &str) -> Result<Option<Vec<u8>>, FileError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(e)),
    }
}

pub fn write(path: &str, value: &[u8]) -> Result<(), FileError> {
    std::fs::write(path, value).map_err(error)
}

pub fn rename(from: &str, to: &str) -> Result<(), FileError> {
    std::fs::rename(from, to).map_err(error)
}

pub fn link(from: &str, to: &str) -> Result<bool, FileError> {
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(error(e)),
    }
}

pub fn remove(path: &str) -> Result<(), FileError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operations_on_a_real_directory() {
        let dir = std::env::temp_dir().join(format!("accs-edge-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = |name: &str| dir.join(name).to_string_lossy().into_owned();

        assert_eq!(read(&p("token")), Ok(None));
        write(&p("tmp-1"), b"one").unwrap();
        rename(&p("tmp-1"), &p("token")).unwrap();
        assert_eq!(read(&p("token")), Ok(Some(b"one".to_vec())));
        write(&p("tmp-2"), b"two").unwrap();
        rename(&p("tmp-2"), &p("token")).unwrap();
        assert_eq!(read(&p("token")), Ok(Some(b"two".to_vec())));
        assert_eq!(read(&p("tmp-2")), Ok(None));

        // The exclusive create of the lease.
        write(&p("tmp-3"), b"lease").unwrap();
        assert_eq!(link(&p("tmp-3"), &p("lease")), Ok(true));
        assert_eq!(link(&p("tmp-3"), &p("lease")), Ok(false));
        remove(&p("tmp-3")).unwrap();
        assert_eq!(read(&p("lease")), Ok(Some(b"lease".to_vec())));
        remove(&p("lease")).unwrap();
        remove(&p("lease")).unwrap();

        // A missing directory is an error, not a miss.
        assert!(write(&p("no-such-dir/x"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
