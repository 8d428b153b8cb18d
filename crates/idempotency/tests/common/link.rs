//! A TCP link to a server that a test can cut: the store connects through it, and `cut`
//! drops every connection and refuses new ones, as a server that went down.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Debug)]
pub struct Link {
    addr: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Link {
    /// Listens on 127.0.0.1 and forwards each connection to `target` (`host:port`).
    pub async fn to(target: &str) -> Link {
        Self::on(0, target).await
    }

    /// [`Link::to`] on `port` of 127.0.0.1 (0: any): a link cut and opened again on its port
    /// is a server that came back.
    pub async fn on(port: u16, target: &str) -> Link {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let target = target.to_owned();
        let registry = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                registry.lock().unwrap().push(forward.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Link { addr, tasks }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Drops every forwarded connection and stops listening (returns once the sockets are
    /// closed).
    pub async fn cut(&self) {
        self.abort();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    fn abort(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.abort();
    }
}
