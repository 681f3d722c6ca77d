//! A TCP relay between a function and PostgreSQL that measures how long the database took to
//! answer: from the first byte of a request to the reply, summed over every exchange. Reading
//! the total before and after an invocation gives that invocation's database time, so the
//! function's own time is the rest, per invocation and on the real binary.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The relay; stops when dropped.
pub struct DbRelay {
    addr: SocketAddr,
    busy_nanos: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl DbRelay {
    /// Relays 127.0.0.1:<ephemeral> to `target` (`host:port`).
    ///
    /// # Errors
    /// When no loopback port can be bound.
    pub async fn start(target: String) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("bind the database relay")?;
        let addr = listener.local_addr()?;
        let busy_nanos = Arc::new(AtomicU64::new(0));
        let busy = busy_nanos.clone();
        let epoch = Instant::now();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, busy) = (target.clone(), busy.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&target).await {
                        relay(client, server, busy, epoch).await;
                    }
                });
            }
        });
        Ok(Self { addr, busy_nanos, task })
    }

    /// The address to connect to instead of the database.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Total time the database has spent answering so far.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy_nanos.load(Ordering::SeqCst))
    }
}

impl Drop for DbRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX).max(1)
}

async fn relay(client: TcpStream, server: TcpStream, busy: Arc<AtomicU64>, epoch: Instant) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // When the request now waiting for the database started (0: none waiting).
    let waiting_since = Arc::new(AtomicU64::new(0));
    let since = waiting_since.clone();
    let upstream = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let _ = since.compare_exchange(0, nanos_since(epoch), Ordering::SeqCst, Ordering::SeqCst);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let started = waiting_since.swap(0, Ordering::SeqCst);
            if started != 0 {
                busy.fetch_add(nanos_since(epoch).saturating_sub(started), Ordering::SeqCst);
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
