//! `Config`: every limit the codec enforces, its default and why (RFC 6455 §10.4 asks for limits).

use crate::error::UsageError;

/// Every limit and switch of the codec, in one place.
///
/// The defaults suit a server facing the internet. Change fields on
/// `Config::default()` and call [`Config::validate`] (constructors of
/// [`Connection`](crate::Connection) do it for you).
///
/// # Memory one connection can hold
/// - Input: the frame being received, at most `max_frame_size` + 14 header bytes (plus the
///   start of later frames if one `receive` call brought them), and a fragmented message
///   being reassembled, at most `max_message_size`. Both grow with the bytes that arrive
///   (by doubling, never past what was declared): a header's claim alone costs at most
///   64 KiB. See [`Connection::buffered_capacity`](crate::Connection::buffered_capacity).
/// - Output: under `max_output_buffer`, plus the last message queued (the largest you send),
///   a pong and one Close frame.
///
/// With the defaults that is 1 MiB + 1 MiB in and 16 MiB plus a message out per connection,
/// reached only by a peer that sends that much (in) or stops reading (out).
///
/// ```
/// let mut cfg = tether_codec::Config::default();
/// cfg.max_message_size = 16 << 20; // what the Autobahn TestSuite needs
/// cfg.max_frame_size = 16 << 20;
/// assert!(cfg.validate().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Longest HTTP head (request line and headers) accepted, in bytes. Default 8 KiB:
    /// browsers send well under 2 KiB, and nginx's default header buffer is 8 KiB.
    pub max_head_size: usize,
    /// Most header lines accepted in a head. Default 64: browsers send about 15.
    pub max_headers: usize,
    /// Largest payload one frame may declare, in bytes. Default 1 MiB. A frame over it is
    /// refused from its header alone with 1009, before any payload is buffered. A frame
    /// within it is buffered as its payload arrives (64 KiB reserved at its header, then
    /// doubling), so one connection's frame buffer holds at most this plus its header.
    /// `receive` also refuses input while this much is buffered and not yet polled.
    pub max_frame_size: usize,
    /// Largest message, summed over its fragments, in bytes. Default 1 MiB: chat, tickers and
    /// push need far less. A fragmented message is reassembled in a buffer of its own, so
    /// this adds to `max_frame_size` in the input memory one connection can hold.
    pub max_message_size: usize,
    /// Output waiting to be written, in bytes, past which nothing more is queued. Default
    /// 16 MiB. A send while this much waits fails with
    /// [`CapacityError::OutputFull`](crate::CapacityError::OutputFull) and queues nothing
    /// (write, then retry, or close the peer that does not read); below it any one message may
    /// be queued, so a message larger than the cap can still be sent. Automatic pongs are
    /// coalesced (an unwritten pong is replaced by the answer to the latest ping, RFC 6455
    /// §5.5.3); a ping that needs an answer while the output is still at the cap fails the
    /// connection with 1008. A Close frame is always queued, and there is only ever one.
    pub max_output_buffer: usize,
    /// Answer every ping with a pong automatically (RFC 6455 §5.5.2). Default `true`.
    pub auto_pong: bool,
    /// RSV bits (0x40, 0x20, 0x10 of the first header byte) that a negotiated extension
    /// gives meaning to. Default 0: a frame with any RSV bit set is a protocol error.
    pub allowed_rsv_bits: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_head_size: 8 * 1024,
            max_headers: 64,
            max_frame_size: 1 << 20,
            max_message_size: 1 << 20,
            max_output_buffer: 16 << 20,
            auto_pong: true,
            allowed_rsv_bits: 0,
        }
    }
}

/// The largest value any size limit may take: keeps every sum of sizes far from overflow.
pub(crate) const MAX_LIMIT: usize = 1 << 40;

impl Config {
    /// Checks that every field is in range.
    pub fn validate(&self) -> Result<(), UsageError> {
        if self.max_head_size < 128 || self.max_head_size > MAX_LIMIT {
            return Err(UsageError::Config("max_head_size must be in 128..=2^40"));
        }
        if self.max_headers < 8 || self.max_headers > 10_000 {
            return Err(UsageError::Config("max_headers must be in 8..=10000"));
        }
        if self.max_frame_size < 125 || self.max_frame_size > MAX_LIMIT {
            return Err(UsageError::Config("max_frame_size must be in 125..=2^40"));
        }
        if self.max_message_size < 125 || self.max_message_size > MAX_LIMIT {
            return Err(UsageError::Config("max_message_size must be in 125..=2^40"));
        }
        if self.max_output_buffer < 256 || self.max_output_buffer > MAX_LIMIT {
            return Err(UsageError::Config(
                "max_output_buffer must be in 256..=2^40",
            ));
        }
        if self.allowed_rsv_bits & !0x70 != 0 {
            return Err(UsageError::Config(
                "allowed_rsv_bits may only contain 0x40, 0x20, 0x10",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn out_of_range_is_refused() {
        let bad = [
            Config {
                max_frame_size: 10,
                ..Config::default()
            },
            Config {
                max_message_size: usize::MAX,
                ..Config::default()
            },
            Config {
                allowed_rsv_bits: 0x80,
                ..Config::default()
            },
            Config {
                max_head_size: 0,
                ..Config::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
