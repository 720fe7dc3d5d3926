//! The NATS sink: each event is published to `telemetry.<sensor>` (the subject a
//! dashboard or a per-sensor consumer subscribes to), and the batch is flushed (async-nats
//! writes the client's buffer to the socket; it is not a round trip to the server) before
//! the worker counts it as delivered.
//!
//! Publishing copies each event into a `Bytes` (the client owns what it sends): the one
//! copy after the dispatcher's ring. A batch that fails part-way is retried from the first
//! event not yet handed to the client, so a retry does not publish an event twice. (Core
//! NATS is at-most-once: events the client buffered when its connection broke may be lost
//! in a reconnect; the checker would see that.)

use std::sync::Arc;

use async_nats::{Client, Subject};
use bytes::Bytes;
use milonga::dispatch::Batch;
use tokio::runtime::Handle;

use crate::event::Event;
use crate::sink::{Sink, SinkError};

/// A worker's NATS sink: a clone of the one client (one connection for the pipeline).
#[derive(Debug)]
pub struct NatsSink {
    client: Client,
    rt: Handle,
    /// `telemetry.<id>` for every sensor id, made once.
    subjects: Arc<Vec<Subject>>,
    /// The batch being written (its first event's seq in the dispatcher) and how many of
    /// its events the client already took.
    batch: Option<u64>,
    done: usize,
}

impl NatsSink {
    /// One handle per worker, for `sensors` sensors.
    pub fn handles(client: &Client, rt: &Handle, sensors: u32, workers: usize) -> Vec<NatsSink> {
        let subjects: Arc<Vec<Subject>> = Arc::new(
            (0..sensors)
                .map(|s| Subject::from(format!("telemetry.{s}")))
                .collect(),
        );
        (0..workers)
            .map(|_| NatsSink {
                client: client.clone(),
                rt: rt.clone(),
                subjects: subjects.clone(),
                batch: None,
                done: 0,
            })
            .collect()
    }
}

impl Sink for NatsSink {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        let first = batch.frags().next().map(|f| f.seq());
        if first != self.batch {
            self.batch = first;
            self.done = 0;
        }
        let (client, subjects, done) = (&self.client, &self.subjects, &mut self.done);
        self.rt.block_on(async {
            for item in batch.iter().skip(*done) {
                let subject = match Event::decode(item) {
                    Ok(e) if (e.sensor as usize) < subjects.len() => {
                        subjects[e.sensor as usize].clone()
                    }
                    _ => Subject::from_static("telemetry.malformed"),
                };
                client
                    .publish(subject, Bytes::copy_from_slice(item))
                    .await
                    .map_err(|e| SinkError::Other(format!("nats publish: {e}")))?;
                *done += 1;
            }
            client
                .flush()
                .await
                .map_err(|e| SinkError::Other(format!("nats flush: {e}")))
        })
    }
}
