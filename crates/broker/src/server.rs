//! The TCP side: accepting connections, reading size-prefixed request frames, answering in
//! order (one request at a time per connection, as Kafka does), and fault hooks. A
//! connection is a plain TCP stream or a TLS stream over it; both go through the same loop.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::dispatch::{self, Outcome};
use crate::sasl::Session;
use crate::state::State;

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections until `shutdown` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                if state.faults.is_down() {
                    tracing::debug!(%peer, "broker is bounced: refusing connection");
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let shutdown = shutdown.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let host = peer.ip().to_string();
                    let result = match tls {
                        None => connection(stream, host, state, shutdown).await,
                        Some(acceptor) => match handshake(acceptor, stream, &shutdown).await {
                            Ok(stream) => connection(stream, host, state, shutdown).await,
                            Err(e) => Err(e),
                        },
                    };
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Why a connection was closed by the broker.
#[derive(Debug, thiserror::Error)]
enum ConnectionClosed {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("request of {0} bytes is larger than the {1} bytes allowed or negative")]
    Oversize(i32, usize),
    #[error("{0}")]
    Protocol(String),
    #[error("disconnected by fault injection or shutdown")]
    Dropped,
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("TLS handshake timed out")]
    TlsTimeout,
}

/// The server side of the TLS handshake (failures are logged at debug by the caller).
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    shutdown: &CancellationToken,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, ConnectionClosed> {
    tokio::select! {
        _ = shutdown.cancelled() => Err(ConnectionClosed::Dropped),
        r = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => match r {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(ConnectionClosed::Tls(e)),
            Err(_) => Err(ConnectionClosed::TlsTimeout),
        },
    }
}

async fn read_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    max: usize,
) -> Result<Option<Bytes>, ConnectionClosed> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let size = i32::from_be_bytes(len);
    if size < 0 || size as usize > max {
        return Err(ConnectionClosed::Oversize(size, max));
    }
    let mut buf = BytesMut::zeroed(size as usize);
    stream.read_exact(&mut buf).await?;
    Ok(Some(buf.freeze()))
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    client_host: String,
    state: Arc<State>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionClosed> {
    let mut disconnect = state.faults.disconnect.subscribe();
    disconnect.borrow_and_update();
    let mut paused = state.faults.paused.subscribe();
    let mut session = Session::new(state.sasl_users.required(), client_host);
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => return Err(ConnectionClosed::Dropped),
            _ = disconnect.changed() => return Err(ConnectionClosed::Dropped),
            f = read_frame(&mut stream, state.config.max_request_bytes) => f,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(e) => {
                if matches!(e, ConnectionClosed::Oversize(..)) {
                    tracing::warn!(error = %e, "closing connection");
                }
                return Err(e);
            }
        };
        // A paused broker reads but does not answer.
        if *paused.borrow_and_update() {
            tokio::select! {
                _ = shutdown.cancelled() => return Err(ConnectionClosed::Dropped),
                _ = disconnect.changed() => return Err(ConnectionClosed::Dropped),
                _ = paused.wait_for(|p| !*p) => {}
            }
        }
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return Err(ConnectionClosed::Dropped),
            _ = disconnect.changed() => return Err(ConnectionClosed::Dropped),
            o = dispatch::handle(&state, frame, &mut session) => o,
        };
        match outcome {
            Outcome::Respond(bytes) => write_frame(&mut stream, &bytes).await?,
            Outcome::RespondAndClose(bytes, reason) => {
                write_frame(&mut stream, &bytes).await?;
                let _ = stream.shutdown().await;
                tracing::debug!(reason = %reason, "closing connection after the response");
                return Err(ConnectionClosed::Protocol(reason));
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(reason = %reason, "closing connection after a bad request");
                return Err(ConnectionClosed::Protocol(reason));
            }
        }
    }
}

async fn write_frame<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    let len = (bytes.len() as u32).to_be_bytes();
    stream.write_all(&len).await?;
    stream.write_all(bytes).await?;
    // a TLS stream buffers records until flushed
    stream.flush().await
}
