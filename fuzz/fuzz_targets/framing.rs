#![no_main]
//! The RFC 6587 framer never panics and never loses its place: every frame it returns is
//! within the limit, whatever the bytes and however they are split.
use libfuzzer_sys::fuzz_target;
use vigie_event::decode::framing::SyslogFramer;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let mut framer = SyslogFramer::new(256);
    let step = usize::from(split).max(1);
    for piece in rest.chunks(step) {
        framer.push(piece);
        while let Some(frame) = framer.next_frame() {
            if let Ok(frame) = frame {
                assert!(frame.len() <= 256);
            }
        }
    }
    while let Some(frame) = framer.finish() {
        if let Ok(frame) = frame {
            assert!(frame.len() <= rest.len());
        }
    }
});
