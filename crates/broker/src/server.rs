//! The TCP side: accepting connections, reading size-prefixed request frames, answering in
//! order (one request at a time per connection, as Kafka does), and fault hooks. A
//! connection is a plain TCP stream or a TLS stream over it; both go through the same loop.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::dispatch::{self, Outcome};
use crate::sasl::Session;
use crate::state::State;

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One node's listening socket.
pub(crate) struct Listener {
    pub node: i32,
    pub addr: SocketAddr,
    pub socket: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

/// Accepts connections until `shutdown` is cancelled. While the node is stopped its socket
/// is closed (clients get "connection refused") and its connections are cut; when it
/// starts again the same address is bound again.
pub(crate) async fn serve(listener: Listener, state: Arc<State>, shutdown: CancellationToken) {
    let Listener {
        node,
        addr,
        socket,
        tls,
    } = listener;
    let mut up = match state.cluster().node(node) {
        Some(n) => n.up.subscribe(),
        None => return,
    };
    let mut socket = Some(socket);
    loop {
        let Some(listener) = socket.take() else {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = up.wait_for(|u| *u) => {}
            }
            socket = rebind(addr, &shutdown).await;
            continue;
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = up.wait_for(|u| !*u) => {
                tracing::info!(node, %addr, "node stopped: listener closed");
                continue;
            }
            a = listener.accept() => a,
        };
        socket = Some(listener);
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
                let up = up.clone();
                tokio::spawn(async move {
                    let client = Client {
                        node,
                        host: peer.ip().to_string(),
                        up,
                    };
                    let result = match tls {
                        None => connection(stream, client, state, shutdown).await,
                        Some(acceptor) => match handshake(acceptor, stream, &shutdown).await {
                            Ok(stream) => connection(stream, client, state, shutdown).await,
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

/// Binds a restarted node's address again, retrying while it is taken.
async fn rebind(addr: SocketAddr, shutdown: &CancellationToken) -> Option<TcpListener> {
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(%addr, "node started: listening again");
                return Some(l);
            }
            Err(e) => {
                tracing::warn!(%addr, error = %e, "cannot bind a restarted node's address; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                }
            }
        }
    }
}

/// Who a connection serves: the node it reached and the client's host.
struct Client {
    node: i32,
    host: String,
    /// The node's liveness: the connection is cut when the node stops.
    up: watch::Receiver<bool>,
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
    client: Client,
    state: Arc<State>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionClosed> {
    let Client { node, host, mut up } = client;
    let mut disconnect = state.faults.disconnect.subscribe();
    disconnect.borrow_and_update();
    let mut paused = state.faults.paused.subscribe();
    let mut session = Session::new(state.sasl_users.required(), host);
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => return Err(ConnectionClosed::Dropped),
            _ = disconnect.changed() => return Err(ConnectionClosed::Dropped),
            _ = up.wait_for(|u| !*u) => return Err(ConnectionClosed::Dropped),
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
                _ = up.wait_for(|u| !*u) => return Err(ConnectionClosed::Dropped),
                _ = paused.wait_for(|p| !*p) => {}
            }
        }
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return Err(ConnectionClosed::Dropped),
            _ = disconnect.changed() => return Err(ConnectionClosed::Dropped),
            _ = up.wait_for(|u| !*u) => return Err(ConnectionClosed::Dropped),
            o = dispatch::handle(&state, node, frame, &mut session) => o,
        };
        match outcome {
            Outcome::Respond(bytes) => {
                write_frame(&mut stream, &bytes).await?;
                crate::buffers::give(bytes);
            }
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
