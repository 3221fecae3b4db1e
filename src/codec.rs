//! The protobuf codec of every Canvass service and client: prost, with small initial buffers.
//!
//! tonic starts each call with an 8 KiB decode and an 8 KiB encode buffer. A submission is a
//! few hundred bytes, and a phone keeps its upload stream open for as long as it has signal:
//! at 10,000 open streams those buffers alone reserve 160 MiB. Buffers start empty (no
//! allocation until a message is read or written) and grow to what a message needs: an idle
//! stream holds none. With 1 KiB buffers 10,000 idle streams held 20 MiB more, and uploads were
//! no faster.
//!
//! tonic also uses the buffer size as the growth step of its compression buffers (it divides by
//! it); Canvass enables no compression. Should it ever, give the codec a non-zero size again.

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Initial size of a call's encode and decode buffers: none until a message needs them.
const BUFFER_BYTES: usize = 0;
/// Bytes of encoded stream messages gathered before they are handed to HTTP/2 (tonic's default).
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

/// [`ProstCodec`] with [`BUFFER_BYTES`] buffers; named in build.rs as the generated code's codec.
#[derive(Debug, Clone)]
pub struct CompactCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Default for CompactCodec<T, U> {
    fn default() -> Self {
        Self(ProstCodec::default())
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD_BYTES)
}

impl<T, U> Codec for CompactCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(settings())
    }
}
