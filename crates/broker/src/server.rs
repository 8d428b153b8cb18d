//! The TCP side: accepting connections, reading size-prefixed request frames, answering in
//! order (one request at a time per connection, as Kafka does), and fault hooks.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::dispatch::{self, Outcome};
use crate::state::State;

/// Accepts connections until `shutdown` is cancelled.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>, shutdown: CancellationToken) {
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
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, peer.ip().to_string(), state, shutdown).await
                    {
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
}

async fn read_frame(stream: &mut TcpStream, max: usize) -> Result<Option<Bytes>, ConnectionClosed> {
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

async fn connection(
    mut stream: TcpStream,
    client_host: String,
    state: Arc<State>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionClosed> {
    let mut disconnect = state.faults.disconnect.subscribe();
    disconnect.borrow_and_update();
    let mut paused = state.faults.paused.subscribe();
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
            o = dispatch::handle(&state, frame, &client_host) => o,
        };
        match outcome {
            Outcome::Respond(bytes) => {
                let len = (bytes.len() as u32).to_be_bytes();
                stream.write_all(&len).await?;
                stream.write_all(&bytes).await?;
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(reason = %reason, "closing connection after a bad request");
                return Err(ConnectionClosed::Protocol(reason));
            }
        }
    }
}
