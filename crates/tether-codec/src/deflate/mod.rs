//! permessage-deflate (RFC 7692): negotiation of its parameters in both roles, behind the `deflate` feature.

mod negotiate;

pub use negotiate::{
    accept_offer, check_response, offer_header_value, DeflateConfig, DeflateParams,
};
