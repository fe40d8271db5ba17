//! The threads the gate serves its connections on (a drill's gate: one; the standalone
//! gate: one per core), each a single-threaded tokio runtime. A connection accepted by
//! the gate is handed to one lane and lives there for good, with its upstream
//! connection beside it, so a request and its answer never cross threads: no work
//! stealing, no cross-thread wake-ups (`perf` showed a multi-threaded runtime spending
//! much of a proxied request waking other threads).
//!
//! Only the hand-over of a new connection crosses threads. Closing every connection at
//! once (the `refuse` fault, a stopped gate) is a signal each connection watches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use tokio::sync::{mpsc, watch};

/// A connection's work on a lane: given its own socket, already on the lane's runtime.
/// (A `LocalSet` with `Rc` per connection, which would drop `Send` here, measured no
/// faster: docs/PERFORMANCE.md.)
pub type Job = Box<dyn FnOnce(tokio::net::TcpStream) -> ConnectionFuture + Send>;
pub type ConnectionFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A connection handed to a lane: its socket, its work, and the close signal it obeys.
type Handed = (std::net::TcpStream, Job, watch::Receiver<u64>);

pub struct Lanes {
    senders: Vec<mpsc::UnboundedSender<Handed>>,
    next: AtomicUsize,
    /// Bumped to close every connection the lanes serve.
    closing: watch::Sender<u64>,
}

impl Lanes {
    /// `count` lanes, or one per core the process may use. A lane ends when the
    /// `Lanes` is dropped, taking its connections with it.
    pub fn start(name: &str, count: Option<usize>) -> std::io::Result<Lanes> {
        let count = count
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let (closing, _) = watch::channel(0);
        let mut senders = Vec::with_capacity(count);
        for index in 0..count {
            let (sender, receiver) = mpsc::unbounded_channel();
            // The runtime is made on its own thread (a runtime must not be dropped inside
            // another, as it would be here if the thread could not start), which says
            // whether it could.
            let (started, ready) = std::sync::mpsc::channel();
            thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => {
                            let _ = started.send(Ok(()));
                            runtime.block_on(serve_lane(receiver));
                        }
                        Err(error) => {
                            let _ = started.send(Err(error));
                        }
                    }
                })?;
            ready
                .recv()
                .map_err(|_| std::io::Error::other("a gate lane ended before it started"))??;
            senders.push(sender);
        }
        Ok(Lanes {
            senders,
            next: AtomicUsize::new(0),
            closing,
        })
    }

    /// The close signal for connections accepted from now on: a connection handed over
    /// with it ends at the next [`Lanes::close_all`], even one still on its way to its
    /// lane. The accept loop takes it once, when it starts listening.
    pub fn closing(&self) -> watch::Receiver<u64> {
        self.closing.subscribe()
    }

    /// Hands `stream` to the next lane (round robin), where `job` serves it until it ends
    /// or `closing` changes.
    pub fn hand_over(
        &self,
        stream: tokio::net::TcpStream,
        job: Job,
        closing: watch::Receiver<u64>,
    ) {
        // A socket moves between runtimes as a std one: it leaves this reactor here and
        // joins the lane's there.
        let Ok(stream) = stream.into_std() else {
            return;
        };
        let lane = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        let _ = self.senders[lane].send((stream, job, closing));
    }

    /// Closes every connection served now (new ones are served as usual).
    pub fn close_all(&self) {
        self.closing.send_modify(|generation| *generation += 1);
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        // Dropping the senders ends each lane's loop, and its runtime with its tasks.
        self.close_all();
    }
}

async fn serve_lane(mut receiver: mpsc::UnboundedReceiver<Handed>) {
    while let Some((stream, job, mut closing)) = receiver.recv().await {
        let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
            continue;
        };
        tokio::spawn(async move {
            tokio::select! {
                // In this order, without drawing a random one at each of the
                // connection's wake-ups. The close signal first: a job that stays busy
                // can use up the task's budget of operations, and a signal polled after
                // it would find none left and wait until the job ran dry.
                biased;
                _ = closing.changed() => {}
                _ = job(stream) => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Echoes one line back, then waits for more: a connection that stays open.
    fn echo() -> Job {
        Box::new(|mut stream: tokio::net::TcpStream| {
            Box::pin(async move {
                let mut buffer = [0u8; 64];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 || stream.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            })
        })
    }

    #[tokio::test]
    async fn connections_are_served_on_every_lane_and_close_all_ends_them() {
        let lanes = Lanes::start("test-lane", Some(2)).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for n in 0..4u8 {
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (served, _) = listener.accept().await.unwrap();
            lanes.hand_over(served, echo(), lanes.closing());
            client.write_all(&[b'a' + n]).await.unwrap();
            let mut back = [0u8; 1];
            client.read_exact(&mut back).await.unwrap();
            assert_eq!(back[0], b'a' + n, "connection {n} is served");
            clients.push(client);
        }
        lanes.close_all();
        for (n, client) in clients.iter_mut().enumerate() {
            let mut rest = [0u8; 1];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(5), client.read(&mut rest))
                    .await
                    .expect("close_all ends the connection within 5 s");
            assert!(
                matches!(read, Ok(0) | Err(_)),
                "connection {n} is closed after close_all"
            );
        }
        // A connection accepted under a signal taken before close_all ends too, even
        // when it reaches its lane after (the refuse fault's race with an accept).
        let stale = lanes.closing();
        lanes.close_all();
        let mut late = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (served, _) = listener.accept().await.unwrap();
        lanes.hand_over(served, echo(), stale);
        let mut rest = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), late.read(&mut rest))
            .await
            .expect("a connection handed over with a stale signal ends within 5 s");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "the late connection is closed"
        );
        // A connection handed over with a fresh signal is served as usual.
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (served, _) = listener.accept().await.unwrap();
        lanes.hand_over(served, echo(), lanes.closing());
        client.write_all(b"z").await.unwrap();
        let mut back = [0u8; 1];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"z");
    }
}
