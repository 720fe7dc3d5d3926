//! The simulated sensors: each has an id, a kind, its own seq and a reading that moves
//! like the real thing; a sensor thread samples its sensors in turn, encodes each event into
//! one reused buffer and hands it to the ingest stage.
//!
//! Event sizes are 50 plus an exponential tail (mean 115), capped at 400: a mean of about
//! 160 bytes, drawn from a table of 4096 sizes made at start. A thread reads the clock
//! once per round over its sensors (a scan cycle: the sensors of one gateway are sampled
//! together), so every event of a round has the same `tsorig`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::clock;
use crate::event::{Event, Format, Kind, MAX_SIZE, MIN_SIZE};
use crate::intake::Intake;
use crate::stats::SensorCounts;

/// A 64-bit xorshift* generator: fast, good enough for simulated readings.
#[derive(Clone, Copy, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 4096 event sizes: 50 + Exp(mean 115), capped at 400 (mean about 160).
pub fn size_table(seed: u64) -> Box<[u16; 4096]> {
    let mut rng = Rng::new(seed);
    let mut t = Box::new([0u16; 4096]);
    for s in t.iter_mut() {
        let tail = -115.0 * (1.0 - rng.unit()).ln();
        *s = (MIN_SIZE as f64 + tail).min(MAX_SIZE as f64) as u16;
    }
    t
}

/// One simulated sensor.
#[derive(Debug)]
pub struct Sensor {
    /// Its id.
    pub id: u32,
    kind: Kind,
    /// Its next seq: the number of events it generated.
    pub seq: u64,
    /// Events it may generate (`u64::MAX`: no limit).
    pub limit: u64,
    /// Its reading, in thousandths.
    value: i64,
    /// Where a temperature or vibration reading tends to.
    set_point: i64,
}

impl Sensor {
    /// Sensor `id`, to generate at most `limit` events.
    pub fn new(id: u32, limit: u64) -> Self {
        let kind = Kind::of_sensor(id);
        let value = match kind {
            Kind::Vision => 3_000,
            Kind::Plc => 0,
            Kind::Temperature => 20_000 + (id as i64 % 40) * 1000,
            Kind::Vibration => 2_000 + (id as i64 % 10) * 500,
        };
        Sensor {
            id,
            kind,
            seq: 0,
            limit,
            value,
            set_point: value,
        }
    }

    /// Its next event, sampled at `now`.
    #[inline]
    pub fn sample(&mut self, now: u64, rng: &mut Rng) -> Event {
        let r = rng.next();
        self.value = match self.kind {
            // Detections per frame: 0 to 15.
            Kind::Vision => (r >> 60) as i64 * 1000,
            // The cycle counter: one more scan cycle.
            Kind::Plc => self.value + 1000,
            // Steps of up to ±0.064 °C pulled back towards the probe's set point.
            Kind::Temperature => {
                let pull = (self.set_point - self.value) / 256;
                (self.value + (r >> 57) as i64 - 64 + pull).clamp(-40_000, 125_000)
            }
            // RMS velocity: steps of up to ±0.256 mm/s around the machine's normal level.
            Kind::Vibration => {
                let pull = (self.set_point - self.value) / 256;
                (self.value + (r >> 55) as i64 - 256 + pull).clamp(0, 50_000)
            }
        };
        let event = Event {
            sensor: self.id,
            kind: self.kind,
            seq: self.seq,
            tsorig: now,
            value: self.value,
        };
        self.seq += 1;
        event
    }
}

/// The events each sensor may generate when `total` are asked for in all.
pub fn limit(total: Option<u64>, sensors: u32, id: u32) -> u64 {
    match total {
        None => u64::MAX,
        Some(n) => n / sensors as u64 + u64::from((id as u64) < n % sensors as u64),
    }
}

/// What a sensor thread reports when it ends: each of its sensors' `(id, generated)`.
pub type Generated = Vec<(u32, u64)>;

/// Runs one sensor thread until `stop` is set or its sensors reached their limits.
pub fn run(
    mut sensors: Vec<Sensor>,
    format: Format,
    seed: u64,
    mut intake: Intake,
    counts: &SensorCounts,
    stop: &AtomicBool,
) -> Generated {
    let sizes = size_table(seed);
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut buf = [0u8; MAX_SIZE];
    let mut rounds = 0u64;
    while !stop.load(Relaxed) {
        let now = clock::now();
        let mut active = false;
        for s in sensors.iter_mut() {
            if s.seq >= s.limit {
                continue;
            }
            active = true;
            let event = s.sample(now, &mut rng);
            let size = sizes[(rng.next() >> 52) as usize] as usize;
            let json = match format {
                Format::Binary => false,
                Format::Json => true,
                Format::Mixed => event.seq % 2 == 1,
            };
            let n = if json {
                event.encode_json(size, &mut buf)
            } else {
                event.encode_binary(size, &mut buf)
            };
            intake.offer(s.id, &buf[..n]);
        }
        if !active {
            break;
        }
        rounds += 1;
        if rounds.is_multiple_of(64) {
            publish(&sensors, &intake, counts);
        }
    }
    publish(&sensors, &intake, counts);
    intake.finish();
    publish(&sensors, &intake, counts);
    sensors.iter().map(|s| (s.id, s.seq)).collect()
}

fn publish(sensors: &[Sensor], intake: &Intake, counts: &SensorCounts) {
    counts.generated.set(sensors.iter().map(|s| s.seq).sum());
    intake.publish(counts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_have_the_documented_shape() {
        let t = size_table(1);
        let mean = t.iter().map(|&s| s as f64).sum::<f64>() / t.len() as f64;
        assert!(t.iter().all(|&s| (50..=400).contains(&(s as usize))));
        assert!((145.0..175.0).contains(&mean), "{mean}");
        assert!(t.contains(&400));
    }

    #[test]
    fn limits_split_the_total_exactly() {
        for (total, sensors) in [(1000, 16), (7, 16), (1_000_003, 7)] {
            let sum: u64 = (0..sensors).map(|id| limit(Some(total), sensors, id)).sum();
            assert_eq!(sum, total);
        }
        assert_eq!(limit(None, 4, 0), u64::MAX);
    }

    #[test]
    fn seqs_are_consecutive_and_readings_in_range() {
        let mut rng = Rng::new(7);
        for id in 0..4 {
            let mut s = Sensor::new(id, u64::MAX);
            for seq in 0..10_000 {
                let e = s.sample(seq, &mut rng);
                assert_eq!((e.sensor, e.seq, e.kind), (id, seq, Kind::of_sensor(id)));
                assert!((-40_000..=125_000).contains(&e.value) || e.kind == Kind::Plc);
            }
        }
    }
}
