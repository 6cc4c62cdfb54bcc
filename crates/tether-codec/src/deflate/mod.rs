//! permessage-deflate (RFC 7692), behind the `deflate` feature: negotiation of its parameters in both roles, and the per-message compression streams.

mod negotiate;
mod stream;

pub use negotiate::{
    accept_offer, check_response, offer_header_value, DeflateConfig, DeflateParams,
};
pub use stream::{Deflater, Inflater};
