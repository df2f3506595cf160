#![no_main]
//! The RFC 6587 framer never panics and never loses its place: every frame it returns is
//! within the limit, whatever the bytes, the method and however they are split; a broken
//! octet-counted stream gives nothing more.
use libfuzzer_sys::fuzz_target;
use vigie_event::decode::framing::{Method, SyslogFramer};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let method = match split % 3 {
        0 => Method::Auto,
        1 => Method::OctetCounting,
        _ => Method::LineFeed,
    };
    let mut framer = SyslogFramer::with_method(256, method);
    let step = usize::from(split / 3).max(1);
    for piece in rest.chunks(step) {
        framer.push(piece);
        while let Some(frame) = framer.next_frame() {
            if let Ok(frame) = frame {
                assert!(frame.len() <= 256);
            }
        }
    }
    if framer.is_broken() {
        assert!(framer.next_frame().is_none());
    }
    while let Some(frame) = framer.finish() {
        if let Ok(frame) = frame {
            assert!(frame.len() <= rest.len());
        }
    }
});
