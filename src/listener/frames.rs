//! Follows the HTTP/2 frames a client sends, only far enough to tell whether it owes the
//! server the rest of something: the connection preface, its first frame (SETTINGS), or a
//! header block (a HEADERS frame and its CONTINUATIONs). hyper waits for those without a
//! limit, so a peer that stops halfway holds its connection for ever; the listener gives it
//! the handshake timeout instead. Payloads are skipped, never copied.

/// `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, which opens every HTTP/2 connection.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const PUSH_PROMISE: u8 = 0x5;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;

#[derive(Debug, Clone)]
pub struct FrameScanner {
    preface_left: usize,
    header: [u8; FRAME_HEADER_LEN],
    header_filled: usize,
    payload_left: usize,
    /// The frame being read is part of a header block.
    in_headers_frame: bool,
    /// A header block started and its END_HEADERS has not been read yet.
    in_header_block: bool,
    /// A whole frame has been read.
    seen_frame: bool,
}

impl Default for FrameScanner {
    fn default() -> Self {
        Self {
            preface_left: PREFACE_LEN,
            header: [0; FRAME_HEADER_LEN],
            header_filled: 0,
            payload_left: 0,
            in_headers_frame: false,
            in_header_block: false,
            seen_frame: false,
        }
    }
}

impl FrameScanner {
    /// Takes the next bytes the client sent.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.preface_left > 0 {
                let n = self.preface_left.min(bytes.len());
                self.preface_left -= n;
                bytes = &bytes[n..];
            } else if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                if self.payload_left == 0 {
                    self.frame_done();
                }
            } else {
                let n = (FRAME_HEADER_LEN - self.header_filled).min(bytes.len());
                self.header[self.header_filled..self.header_filled + n]
                    .copy_from_slice(&bytes[..n]);
                self.header_filled += n;
                bytes = &bytes[n..];
                if self.header_filled == FRAME_HEADER_LEN {
                    self.header_filled = 0;
                    self.frame_started();
                }
            }
        }
    }

    /// Whether the client is in the middle of something it must finish before the server
    /// can go on: the preface, the first frame, a frame header or a header block.
    pub fn owes(&self) -> bool {
        self.preface_left > 0
            || !self.seen_frame
            || self.header_filled > 0
            || self.in_headers_frame
            || self.in_header_block
    }

    fn frame_started(&mut self) {
        let h = &self.header;
        let length = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        let (kind, flags) = (h[3], h[4]);
        self.in_headers_frame = matches!(kind, HEADERS | PUSH_PROMISE | CONTINUATION);
        if self.in_headers_frame {
            self.in_header_block = flags & END_HEADERS == 0;
        }
        self.payload_left = length;
        if length == 0 {
            self.frame_done();
        }
    }

    fn frame_done(&mut self) {
        self.seen_frame = true;
        self.in_headers_frame = false;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut bytes = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Whether the scanner owes something after each prefix of `bytes` fed in one piece.
    fn owes_after(bytes: &[u8]) -> bool {
        let mut scanner = FrameScanner::default();
        scanner.feed(bytes);
        scanner.owes()
    }

    #[test]
    fn a_connection_owes_its_preface_and_settings() {
        assert_eq!(PREFACE.len(), PREFACE_LEN);
        assert!(owes_after(b""));
        assert!(owes_after(&PREFACE[..10]));
        assert!(owes_after(PREFACE));
        let settings = frame(0x4, 0, &[0; 6]);
        assert!(owes_after(&[PREFACE, &settings[..5]].concat()));
        assert!(!owes_after(&[PREFACE, &settings].concat()));
    }

    #[test]
    fn a_header_block_is_owed_until_end_headers() {
        let start = [PREFACE, &frame(0x4, 0, &[])].concat();
        let headers = frame(HEADERS, 0, &[7; 20]);
        assert!(owes_after(&[&start[..], &headers[..12]].concat()));
        // Complete HEADERS frame without END_HEADERS: a CONTINUATION is owed.
        assert!(owes_after(&[&start[..], &headers].concat()));
        let last = frame(CONTINUATION, END_HEADERS, &[7; 4]);
        assert!(!owes_after(&[&start[..], &headers, &last].concat()));
        let whole = frame(HEADERS, END_HEADERS, &[7; 20]);
        assert!(!owes_after(&[&start[..], &whole].concat()));
    }

    #[test]
    fn a_data_frame_in_progress_is_not_owed() {
        let start = [PREFACE, &frame(0x4, 0, &[])].concat();
        let data = frame(0x0, 0, &[1; 1000]);
        assert!(!owes_after(&[&start[..], &data[..100]].concat()));
    }

    proptest! {
        /// However the bytes are cut into reads, the scanner ends in the same state.
        #[test]
        fn reads_may_be_cut_anywhere(cuts in proptest::collection::vec(0usize..200, 0..8)) {
            let bytes = [
                PREFACE,
                &frame(0x4, 0, &[0; 12]),
                &frame(HEADERS, 0, &[9; 30]),
                &frame(0x0, 0, &[1; 50]),
            ]
            .concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % bytes.len()).collect();
            cuts.sort();
            let mut scanner = FrameScanner::default();
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                scanner.feed(&bytes[from..cut]);
                from = cut;
            }
            // The header block is still open (no END_HEADERS).
            prop_assert!(scanner.owes());
            let mut whole = FrameScanner::default();
            whole.feed(&bytes);
            prop_assert_eq!(format!("{scanner:?}"), format!("{whole:?}"));
        }
    }
}
