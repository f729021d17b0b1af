//! The socket under hyper: plain TCP or TLS, with what hyper has not consumed yet put back in
//! front, and every read, write and flush reported to the connection's `Activity`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::activity::Activity;

pub(super) enum Stream {
    Plain(TcpStream),
    // Boxed: a TLS session is large, and plain connections should not pay for its size.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Waits, holding no buffer, until the client sends something. `None` when it closed the
    /// connection instead. A TLS stream has to decrypt to know, so it returns the first bytes
    /// it read; a plain one leaves them in the socket.
    pub async fn wait_for_request(&mut self) -> io::Result<Option<Bytes>> {
        match self {
            Stream::Plain(tcp) => {
                let mut probe = [0u8; 1];
                Ok((tcp.peek(&mut probe).await? > 0).then(Bytes::new))
            }
            Stream::Tls(tls) => {
                let mut first = [0u8; 64];
                let read = tls.read(&mut first).await?;
                Ok((read > 0).then(|| Bytes::copy_from_slice(&first[..read])))
            }
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => {
                let $s = Pin::new($s);
                $call
            }
            Stream::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $call
            }
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

/// What hyper reads from and writes to.
pub(super) struct ConnIo {
    stream: Stream,
    /// Bytes already taken from the stream that hyper has not seen yet.
    prefix: Bytes,
    activity: Arc<Activity>,
}

impl ConnIo {
    pub fn new(stream: Stream, prefix: Bytes, activity: Arc<Activity>) -> ConnIo {
        ConnIo { stream, prefix, activity }
    }

    /// The stream, and the bytes hyper had read but not used (`unused`) with any prefix it
    /// never read, in order. Copied out: `unused` usually shares hyper's whole read buffer,
    /// which would otherwise stay allocated for as long as the connection is parked.
    pub fn into_parts(self, unused: Bytes) -> (Stream, Bytes) {
        let rest = if unused.is_empty() && self.prefix.is_empty() {
            Bytes::new()
        } else {
            let mut joined = Vec::with_capacity(unused.len() + self.prefix.len());
            joined.extend_from_slice(&unused);
            joined.extend_from_slice(&self.prefix);
            Bytes::from(joined)
        };
        (self.stream, rest)
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            this.activity.on_read(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if polled.is_ready() {
            this.activity.on_read(buf.filled().len() - before);
        }
        polled
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.activity.on_write(written(&polled));
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.activity.on_write(written(&polled));
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.stream).poll_flush(cx);
        if matches!(polled, Poll::Ready(Ok(()))) {
            this.activity.on_flushed();
        }
        polled
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

fn written(polled: &Poll<io::Result<usize>>) -> usize {
    match polled {
        Poll::Ready(Ok(n)) => *n,
        _ => 0,
    }
}
