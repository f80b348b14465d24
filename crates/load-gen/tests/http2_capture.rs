//! HTTP/2 as Wireshark sees it: a capture of a plaintext HTTP/2 run over an emulated link
//! (`--capture`), dissected by tshark, against load-gen's own classification of the frames.
//! Its own test binary, so that it never runs beside the link's timing-sensitive tests.

mod common;

/// Wireshark's HTTP/2 dissector, over a capture of a plaintext HTTP/2 run (polls, SSE, and a
/// WebSocket over an extended CONNECT), finds the frames load-gen's classifier counted: the
/// same bytes of heads (HEADERS and CONTINUATION), the same of control (the preface and every
/// frame but DATA and heads) and as many DATA frames, each way; and the capture holds exactly
/// the bytes the summary counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wireshark_classifies_a_captured_http2_run_as_load_gen_does() {
    if !common::can_capture() {
        return;
    }
    let results = common::tempdir("link-h2");
    let s = common::link_scenario(
        r#"["short-poll", "sse", "websocket"]"#,
        "20ms",
        "http = \"2\"\n",
    );
    let mut opts = common::options(&results, None);
    opts.capture = true;
    let (summary, dir) =
        load_gen::runner::run(&s, &opts, tokio_util::sync::CancellationToken::new())
            .await
            .unwrap();
    assert_eq!(summary.transports.len(), 3);
    for t in &summary.transports {
        let name = &t.transport;
        assert_eq!(t.error, None, "{name}");
        common::assert_delivered_once(t);
        assert_eq!(t.kernel_difference, [0, 0], "{name}");
        let pcap = dir.join(format!("{name}.pcap"));
        // The client shuts its side after its GOAWAY and reads on to the server's end: the
        // server's last frames come after the client's FIN, and are counted.
        let (up, down, after_close) = common::captured_payload(&pcap);
        assert_eq!(
            (up, down + after_close),
            (t.bytes.up(), t.bytes.down()),
            "{name}"
        );
        let [up, down] = http2_frames(&pcap);
        let b = &t.bytes;
        let heads = match name.starts_with("short-poll") {
            false => [b.setup_up, b.setup_down],
            true => [b.headers_up, b.headers_down],
        };
        assert_eq!([up.heads, down.heads], heads, "{name}: heads");
        assert_eq!(
            [up.control, down.control],
            [b.control_up, b.control_down],
            "{name}"
        );
        // Up, only a WebSocket's frames (its close) are DATA.
        assert_eq!(up.data_frames, t.h2_traffic.data_frames_up, "{name}");
        assert_eq!(up.data_frames > 0, name.starts_with("websocket"), "{name}");
        assert_eq!(down.data_frames, t.h2_traffic.data_frames_down, "{name}");
        assert_eq!(up.heads_frames, t.h2_traffic.headers_frames_up, "{name}");
    }
    std::fs::remove_dir_all(&results).unwrap();
}

/// What Wireshark's dissector found in one direction of a capture's HTTP/2.
#[derive(Debug, Default, Clone, Copy)]
struct Frames {
    heads: u64,
    heads_frames: u64,
    control: u64,
    data_frames: u64,
}

/// The HTTP/2 frames of a capture of plaintext HTTP/2 to the server's port, by direction, as
/// tshark dissects them (prior knowledge has no port of its own: the server's is given).
fn http2_frames(pcap: &std::path::Path) -> [Frames; 2] {
    let tshark = |args: &[&str]| common::tshark(pcap, args);
    let syn = "ip.src == 198.18.0.2 && tcp.flags.syn == 1 && tcp.flags.ack == 0";
    let port = tshark(&["-Y", syn, "-T", "fields", "-e", "tcp.dstport"]);
    let port = port.lines().next().expect("a connection in the capture");
    let decode = format!("tcp.port=={port},http2");
    let fields = tshark(&[
        "-d",
        &decode,
        "-Y",
        "http2",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=;",
        "-e",
        "ip.src",
        "-e",
        "http2.magic",
        "-e",
        "http2.type",
        "-e",
        "http2.length",
    ]);
    let mut frames = [Frames::default(); 2];
    for line in fields.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let side = &mut frames[usize::from(f[0] != "198.18.0.2")];
        side.control += 24 * f[1].split(';').filter(|m| !m.is_empty()).count() as u64;
        let types = f[2].split(';').filter(|v| !v.is_empty());
        let lengths = f[3].split(';').filter(|v| !v.is_empty());
        for (kind, len) in types.zip(lengths) {
            let (kind, len): (u8, u64) = (kind.parse().unwrap(), len.parse().unwrap());
            match kind {
                0 => side.data_frames += 1,
                1 | 5 | 9 => {
                    side.heads += 9 + len;
                    side.heads_frames += u64::from(kind == 1);
                }
                _ => side.control += 9 + len,
            }
        }
    }
    frames
}
