#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tether_codec_fuzz::check_in_place(data));
