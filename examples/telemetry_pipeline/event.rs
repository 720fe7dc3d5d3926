//! The event a sensor sends, and its two encodings: a flat binary record or a line of JSON.
//!
//! Binary (little-endian), 50 to 400 bytes:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0 | magic `0xEB` |
//! | 1 | kind (0 vision, 1 plc, 2 temperature, 3 vibration) |
//! | 2..4 | length of the whole event |
//! | 4..8 | sensor id |
//! | 8..16 | seq: the sensor's own sequence number, from 0 |
//! | 16..24 | tsorig: when it was sampled, nanoseconds on the process clock |
//! | 24..32 | value, in thousandths (m°C, mm/s, detections or cycles times 1000) |
//! | 32.. | the reading's body (detections, register dumps...): padding here |
//!
//! JSON: `{"sensor":7,"kind":"temp","seq":42,"ts":1234567,"value":21.500,"pad":"xx..."}`,
//! fields in this order (the decoder insists on it), `pad` (or blanks, when there is no room
//! for it) sized so that the event has its drawn length; a draw shorter than the shortest
//! encoding (about 70 bytes) gives the shortest.
//!
//! Encoding writes into a caller's buffer and decoding borrows: nothing is allocated per
//! event.

use std::fmt;

/// The shortest event drawn.
pub const MIN_SIZE: usize = 50;
/// The longest event.
pub const MAX_SIZE: usize = 400;
/// The binary header's length.
pub const HEADER: usize = 32;
/// The first byte of a binary event.
pub const MAGIC: u8 = 0xEB;

/// What a sensor measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A camera's object detector: detections per frame.
    Vision = 0,
    /// A PLC's cycle counter.
    Plc = 1,
    /// A temperature probe, in °C.
    Temperature = 2,
    /// A vibration sensor: RMS velocity in mm/s.
    Vibration = 3,
}

impl Kind {
    /// Every kind, by its code.
    pub const ALL: [Kind; 4] = [Kind::Vision, Kind::Plc, Kind::Temperature, Kind::Vibration];

    /// The kind of sensor `id`: the four kinds in turn.
    pub fn of_sensor(id: u32) -> Kind {
        Kind::ALL[id as usize % 4]
    }

    /// Its name in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Vision => "vision",
            Kind::Plc => "plc",
            Kind::Temperature => "temp",
            Kind::Vibration => "vibration",
        }
    }

    fn from_code(code: u8) -> Option<Kind> {
        Kind::ALL.get(code as usize).copied()
    }

    fn from_name(name: &[u8]) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name().as_bytes() == name)
    }
}

/// How sensors encode their events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The flat binary record.
    Binary,
    /// A JSON object.
    Json,
    /// Binary and JSON in turn (each sensor alternates).
    Mixed,
}

/// The fields every event carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The sensor's id.
    pub sensor: u32,
    /// What it measures.
    pub kind: Kind,
    /// The sensor's sequence number: consecutive from 0, so that a gap is a loss.
    pub seq: u64,
    /// When it was sampled: nanoseconds on the process clock.
    pub tsorig: u64,
    /// The reading, in thousandths.
    pub value: i64,
}

/// Why bytes are not an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Zero bytes.
    Empty,
    /// A binary event shorter than its header or than its length field.
    Truncated,
    /// A kind code or name that is not one of the four.
    BadKind,
    /// JSON not in the expected shape: the field it stopped at.
    Json(&'static str),
    /// Neither the binary magic nor `{`.
    UnknownFormat,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty event"),
            DecodeError::Truncated => f.write_str("truncated binary event"),
            DecodeError::BadKind => f.write_str("unknown kind"),
            DecodeError::Json(at) => write!(f, "malformed JSON event at {at}"),
            DecodeError::UnknownFormat => f.write_str("neither binary nor JSON"),
        }
    }
}

static PAD: [u8; MAX_SIZE] = [b'x'; MAX_SIZE];

impl Event {
    /// Writes the binary record, `size` bytes long (`HEADER..=MAX_SIZE`), into `buf`;
    /// returns its length.
    pub fn encode_binary(&self, size: usize, buf: &mut [u8; MAX_SIZE]) -> usize {
        let size = size.clamp(HEADER, MAX_SIZE);
        buf[0] = MAGIC;
        buf[1] = self.kind as u8;
        buf[2..4].copy_from_slice(&(size as u16).to_le_bytes());
        buf[4..8].copy_from_slice(&self.sensor.to_le_bytes());
        buf[8..16].copy_from_slice(&self.seq.to_le_bytes());
        buf[16..24].copy_from_slice(&self.tsorig.to_le_bytes());
        buf[24..32].copy_from_slice(&self.value.to_le_bytes());
        // The body: whatever the previous event left (a fixed pattern would cost a copy
        // per event; the body is opaque to every stage).
        size
    }

    /// Writes the JSON object into `buf`, `size` bytes long if that is at least its
    /// shortest encoding (else the shortest); returns its length.
    pub fn encode_json(&self, size: usize, buf: &mut [u8; MAX_SIZE]) -> usize {
        let mut w = Writer { buf, at: 0 };
        w.put(b"{\"sensor\":");
        w.uint(self.sensor as u64);
        w.put(b",\"kind\":\"");
        w.kind(self.kind);
        w.put(b"\",\"seq\":");
        w.uint(self.seq);
        w.put(b",\"ts\":");
        w.uint(self.tsorig);
        w.put(b",\"value\":");
        w.milli(self.value);
        const PAD_FIELD: &[u8] = b",\"pad\":\"\"}";
        let size = size.min(MAX_SIZE);
        if w.at + PAD_FIELD.len() <= size {
            let pad = size - w.at - PAD_FIELD.len();
            w.put(b",\"pad\":\"");
            w.put(&PAD[..pad]);
            w.put(b"\"}");
        } else {
            // Too short for the pad field: blanks (JSON whitespace) up to the size.
            let blanks = size.saturating_sub(w.at + 1);
            w.put(&[b' '; 16][..blanks]); // fewer than the pad field's 10 bytes
            w.put(b"}");
        }
        w.at
    }

    /// Reads an event in either encoding.
    ///
    /// # Errors
    /// A [`DecodeError`] naming what is wrong.
    #[inline]
    pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
        match bytes.first() {
            Some(&MAGIC) => Self::decode_binary(bytes),
            Some(b'{') => Self::decode_json(bytes),
            Some(_) => Err(DecodeError::UnknownFormat),
            None => Err(DecodeError::Empty),
        }
    }

    #[inline]
    fn decode_binary(b: &[u8]) -> Result<Event, DecodeError> {
        let Some(h) = b.first_chunk::<HEADER>() else {
            return Err(DecodeError::Truncated);
        };
        let len = u16::from_le_bytes([h[2], h[3]]) as usize;
        if len != b.len() {
            return Err(DecodeError::Truncated);
        }
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().unwrap());
        Ok(Event {
            kind: Kind::from_code(h[1]).ok_or(DecodeError::BadKind)?,
            sensor: u32::from_le_bytes(h[4..8].try_into().unwrap()),
            seq: u64_at(8),
            tsorig: u64_at(16),
            value: u64_at(24) as i64,
        })
    }

    fn decode_json(b: &[u8]) -> Result<Event, DecodeError> {
        let mut r = Reader { b, at: 0 };
        r.expect(b"{\"sensor\":", "sensor")?;
        let sensor = u32::try_from(r.uint("sensor")?).map_err(|_| DecodeError::Json("sensor"))?;
        r.expect(b",\"kind\":\"", "kind")?;
        let kind = Kind::from_name(r.until(b'"', "kind")?).ok_or(DecodeError::BadKind)?;
        r.expect(b"\",\"seq\":", "seq")?;
        let seq = r.uint("seq")?;
        r.expect(b",\"ts\":", "ts")?;
        let tsorig = r.uint("ts")?;
        r.expect(b",\"value\":", "value")?;
        let value = r.milli("value")?;
        match r.b.get(r.at) {
            Some(b',') | Some(b' ') | Some(b'}') if b.last() == Some(&b'}') => Ok(Event {
                sensor,
                kind,
                seq,
                tsorig,
                value,
            }),
            _ => Err(DecodeError::Json("end")),
        }
    }

    /// Appends the event as one line of JSON (without the padding: `"bytes"` tells its
    /// length) for the file sink: a JSON event with its `pad` cut, a binary one rendered.
    pub fn write_json_line(&self, len: usize, out: &mut Vec<u8>) {
        let mut tmp = [0u8; MAX_SIZE];
        let mut w = Writer {
            buf: &mut tmp,
            at: 0,
        };
        w.put(b"{\"sensor\":");
        w.uint(self.sensor as u64);
        w.put(b",\"kind\":\"");
        w.kind(self.kind);
        w.put(b"\",\"seq\":");
        w.uint(self.seq);
        w.put(b",\"ts\":");
        w.uint(self.tsorig);
        w.put(b",\"value\":");
        w.milli(self.value);
        w.put(b",\"bytes\":");
        w.uint(len as u64);
        w.put(b"}\n");
        let at = w.at;
        out.extend_from_slice(&tmp[..at]);
    }
}

/// Appends to a fixed buffer (every caller's worst case fits `MAX_SIZE`).
struct Writer<'b> {
    buf: &'b mut [u8; MAX_SIZE],
    at: usize,
}

impl Writer<'_> {
    #[inline(always)]
    fn put(&mut self, s: &[u8]) {
        self.buf[self.at..self.at + s.len()].copy_from_slice(s);
        self.at += s.len();
    }

    /// A kind's name: a literal per kind, so that each copy has a constant length.
    #[inline(always)]
    fn kind(&mut self, k: Kind) {
        match k {
            Kind::Vision => self.put(b"vision"),
            Kind::Plc => self.put(b"plc"),
            Kind::Temperature => self.put(b"temp"),
            Kind::Vibration => self.put(b"vibration"),
        }
    }

    /// `v` in decimal, written in place two digits at a time.
    #[inline(always)]
    fn uint(&mut self, mut v: u64) {
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        let n = v.checked_ilog10().unwrap_or(0) as usize + 1;
        let out = &mut self.buf[self.at..self.at + n];
        let mut i = n;
        while v >= 100 {
            let pair = (v % 100) as usize * 2;
            v /= 100;
            out[i - 2..i].copy_from_slice(&PAIRS[pair..pair + 2]);
            i -= 2;
        }
        if v >= 10 {
            out[i - 2..i].copy_from_slice(&PAIRS[v as usize * 2..v as usize * 2 + 2]);
        } else {
            out[i - 1] = b'0' + v as u8;
        }
        self.at += n;
    }

    /// A number of thousandths as a decimal with three places.
    #[inline(always)]
    fn milli(&mut self, v: i64) {
        if v < 0 {
            self.put(b"-");
        }
        let a = v.unsigned_abs();
        self.uint(a / 1000);
        let f = a % 1000;
        self.put(&[
            b'.',
            b'0' + (f / 100) as u8,
            b'0' + (f / 10 % 10) as u8,
            b'0' + (f % 10) as u8,
        ]);
    }
}

/// Reads the JSON the encoder writes, field by field.
struct Reader<'b> {
    b: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    #[inline(always)]
    fn expect(&mut self, s: &[u8], field: &'static str) -> Result<(), DecodeError> {
        if self.b[self.at..].starts_with(s) {
            self.at += s.len();
            Ok(())
        } else {
            Err(DecodeError::Json(field))
        }
    }

    #[inline(always)]
    fn uint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let start = self.at;
        let mut v: u64 = 0;
        while let Some(d) = self.b.get(self.at).filter(|c| c.is_ascii_digit()) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add((d - b'0') as u64))
                .ok_or(DecodeError::Json(field))?;
            self.at += 1;
        }
        if self.at == start {
            return Err(DecodeError::Json(field));
        }
        Ok(v)
    }

    fn milli(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        let negative = self.b.get(self.at) == Some(&b'-');
        if negative {
            self.at += 1;
        }
        let whole = self.uint(field)?;
        self.expect(b".", field)?;
        let start = self.at;
        let frac = self.uint(field)?;
        if self.at - start != 3 {
            return Err(DecodeError::Json(field));
        }
        let v = i64::try_from(whole)
            .ok()
            .and_then(|w| w.checked_mul(1000))
            .and_then(|w| w.checked_add(frac as i64))
            .ok_or(DecodeError::Json(field))?;
        Ok(if negative { -v } else { v })
    }

    fn until(&mut self, end: u8, field: &'static str) -> Result<&'b [u8], DecodeError> {
        let rest = &self.b[self.at..];
        let n = rest
            .iter()
            .position(|&c| c == end)
            .ok_or(DecodeError::Json(field))?;
        self.at += n;
        Ok(&rest[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(value: i64) -> Event {
        Event {
            sensor: 7,
            kind: Kind::Temperature,
            seq: 42,
            tsorig: 1_234_567_890,
            value,
        }
    }

    #[test]
    fn binary_round_trip_at_every_size() {
        let mut buf = [0u8; MAX_SIZE];
        for size in MIN_SIZE..=MAX_SIZE {
            let n = sample(-21_500).encode_binary(size, &mut buf);
            assert_eq!(n, size);
            assert_eq!(Event::decode(&buf[..n]), Ok(sample(-21_500)));
            assert_eq!(Event::decode(&buf[..n - 1]), Err(DecodeError::Truncated));
        }
    }

    #[test]
    fn json_round_trip_and_sizes() {
        let mut buf = [0u8; MAX_SIZE];
        for value in [0, 5, -5, 21_500, -1_000_001, i64::MAX / 1000 * 1000] {
            let shortest = sample(value).encode_json(0, &mut buf);
            for size in [MIN_SIZE, 100, 160, MAX_SIZE] {
                let n = sample(value).encode_json(size, &mut buf);
                assert_eq!(n, size.max(shortest));
                let text = std::str::from_utf8(&buf[..n]).unwrap();
                assert!(
                    text.starts_with("{\"sensor\":7,\"kind\":\"temp\""),
                    "{text}"
                );
                assert_eq!(Event::decode(&buf[..n]), Ok(sample(value)), "{text}");
            }
        }
        let n = sample(1).encode_json(160, &mut buf);
        assert_eq!(n, 160);
    }

    #[test]
    fn bad_input_is_named() {
        assert_eq!(Event::decode(b""), Err(DecodeError::Empty));
        assert_eq!(Event::decode(b"hello"), Err(DecodeError::UnknownFormat));
        assert_eq!(
            Event::decode(b"{\"sensor\":x"),
            Err(DecodeError::Json("sensor"))
        );
        assert_eq!(
            Event::decode(b"{\"sensor\":1,\"kind\":\"lava\",\"seq\":1"),
            Err(DecodeError::BadKind)
        );
        let mut buf = [0u8; MAX_SIZE];
        let n = sample(1).encode_binary(64, &mut buf);
        buf[1] = 9;
        assert_eq!(Event::decode(&buf[..n]), Err(DecodeError::BadKind));
    }

    #[test]
    fn json_lines_are_json() {
        let mut out = Vec::new();
        sample(-21_500).write_json_line(99, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["sensor"], 7);
        assert_eq!(v["kind"], "temp");
        assert_eq!(v["value"], -21.5);
        assert_eq!(v["bytes"], 99);
        let mut buf = [0u8; MAX_SIZE];
        let n = sample(3_250).encode_json(200, &mut buf);
        let v: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert_eq!(v["value"], 3.25);
    }
}
