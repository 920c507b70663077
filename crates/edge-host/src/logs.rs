//! Capture of the guest's stdout and stderr.

use bytes::Bytes;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Everything every instance of one host wrote to stdout and stderr, in order.
#[derive(Clone, Default)]
pub(crate) struct LogSink {
    buf: Arc<Mutex<Vec<u8>>>,
    echo: bool,
}

impl LogSink {
    pub(crate) fn new() -> Self {
        Self {
            buf: Arc::default(),
            echo: std::env::var_os("EDGE_HOST_ECHO").is_some_and(|v| v == "1"),
        }
    }

    fn append(&self, bytes: &[u8]) {
        self.buf
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        if self.echo {
            // Echo to the test's stderr (captured by the test harness unless --nocapture).
            eprint!("{}", String::from_utf8_lossy(bytes));
        }
    }

    pub(crate) fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    pub(crate) fn clear(&self) {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// A stream for `WasiCtxBuilder::stdout` / `stderr`.
    pub(crate) fn stream(&self) -> LogStream {
        LogStream(self.clone())
    }
}

/// One guest output stream (stdout or stderr) feeding a [`LogSink`]. Writes complete
/// synchronously, so a line is in the sink as soon as the guest's write returns.
#[derive(Clone)]
pub(crate) struct LogStream(LogSink);

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

/// Largest write the p2 stream advertises at once.
const P2_WRITE_BUDGET: usize = 64 * 1024;

#[async_trait::async_trait]
impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.0.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(P2_WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = io::stderr().flush();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
