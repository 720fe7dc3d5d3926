//! The sliding-window aggregator: per sensor, count, min, max and mean of its readings
//! over the last 60 seconds of event time, in 60 one-second buckets.
//!
//! A worker owns the windows of its sensors (allocated once, when it starts): adding a
//! reading touches one bucket and allocates nothing; a bucket older than the window is
//! reset when its second comes round again.

/// Seconds in the window (and buckets per sensor).
pub const WINDOW_SECS: u64 = 60;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// The second (of event time) the bucket holds; `u64::MAX`: never used.
    second: u64,
    count: u64,
    min: i64,
    max: i64,
    sum: i128,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        second: u64::MAX,
        count: 0,
        min: i64::MAX,
        max: i64::MIN,
        sum: 0,
    };
}

/// Count, min, max and mean of readings (in thousandths).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Readings.
    pub count: u64,
    /// The smallest.
    pub min: i64,
    /// The largest.
    pub max: i64,
    /// Their sum.
    pub sum: i128,
}

impl Summary {
    /// No readings.
    pub const EMPTY: Summary = Summary {
        count: 0,
        min: i64::MAX,
        max: i64::MIN,
        sum: 0,
    };

    /// The mean, in thousandths (`None` without readings).
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// Adds another summary's readings.
    pub fn merge(&mut self, o: &Summary) {
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
    }
}

/// The windows of `sensors` sensors, indexed by a slot the caller assigns.
#[derive(Debug)]
pub struct Windows {
    buckets: Box<[Bucket]>,
}

impl Windows {
    /// Windows for `slots` sensors.
    pub fn new(slots: usize) -> Self {
        Windows {
            buckets: vec![Bucket::EMPTY; slots * WINDOW_SECS as usize].into_boxed_slice(),
        }
    }

    /// Adds a reading of the sensor in `slot`, made at `t_ns` (event time).
    #[inline]
    pub fn add(&mut self, slot: usize, t_ns: u64, value: i64) {
        let second = t_ns / 1_000_000_000;
        let b = &mut self.buckets[slot * WINDOW_SECS as usize + (second % WINDOW_SECS) as usize];
        if b.second != second {
            if b.second != u64::MAX && b.second > second {
                return; // older than the window the bucket now holds: out of the window
            }
            *b = Bucket {
                second,
                ..Bucket::EMPTY
            };
        }
        b.count += 1;
        b.min = b.min.min(value);
        b.max = b.max.max(value);
        b.sum += value as i128;
    }

    /// The readings of the sensor in `slot` in the 60 seconds up to `now_ns`.
    pub fn summary(&self, slot: usize, now_ns: u64) -> Summary {
        let now = now_ns / 1_000_000_000;
        let mut s = Summary::EMPTY;
        let w = WINDOW_SECS as usize;
        for b in &self.buckets[slot * w..(slot + 1) * w] {
            if b.second != u64::MAX && b.second <= now && now - b.second < WINDOW_SECS {
                s.merge(&Summary {
                    count: b.count,
                    min: b.min,
                    max: b.max,
                    sum: b.sum,
                });
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn the_window_slides() {
        let mut w = Windows::new(2);
        for sec in 0..120u64 {
            w.add(1, sec * S + 5, sec as i64);
            w.add(1, sec * S + 7, -(sec as i64));
        }
        let s = w.summary(1, 119 * S);
        assert_eq!((s.count, s.min, s.max), (120, -119, 119)); // seconds 60..=119
        assert_eq!(s.mean(), Some(0.0));
        assert_eq!(w.summary(0, 119 * S), Summary::EMPTY);
        // 30 s later nothing new came: half the window is left.
        assert_eq!(w.summary(1, 149 * S).count, 60);
        assert_eq!(w.summary(1, 1000 * S).count, 0);
    }

    #[test]
    fn a_reading_older_than_its_bucket_is_left_out() {
        let mut w = Windows::new(1);
        w.add(0, 70 * S, 1);
        w.add(0, 10 * S, 100); // same bucket, 60 s older: outside the window
        let s = w.summary(0, 70 * S);
        assert_eq!((s.count, s.max), (1, 1));
    }
}
