use proptest::prelude::*;

use super::*;
use crate::checks::{CheckStatus, Checks, MAX_SERVICE_NAME_LEN, MAX_SERVICES, ServiceEntry};
use crate::message::{Health, MemberEntry, Message, Peer, Status};
use crate::seal::{Boot, Keyring, SALT_LEN, TAG_LEN};

fn peer() -> impl Strategy<Value = Peer> {
    ("[a-z0-9-]{1,20}", any::<[u8; 4]>(), any::<u16>(), any::<u64>()).prop_map(|(name, ip, port, incarnation)| Peer {
        name,
        addr: (ip, port).into(),
        incarnation,
    })
}

fn check_status() -> impl Strategy<Value = CheckStatus> {
    prop_oneof![
        Just(CheckStatus::Passing),
        Just(CheckStatus::Warning),
        Just(CheckStatus::Critical)
    ]
}

fn checks() -> impl Strategy<Value = Option<Checks>> {
    let service = (
        "[a-z]{1,12}",
        any::<[u8; 4]>(),
        any::<u16>(),
        any::<u16>(),
        check_status(),
    )
        .prop_map(|(name, ip, port, weight, status)| ServiceEntry {
            name,
            addr: (ip, port).into(),
            weight,
            status,
        });
    proptest::option::of(
        (check_status(), proptest::collection::vec(service, 0..MAX_SERVICES))
            .prop_map(|(status, services)| Checks { status, services }),
    )
}

fn health() -> impl Strategy<Value = Option<Health>> {
    proptest::option::of(
        (
            0f32..100.0,
            any::<u64>(),
            any::<u64>(),
            0f32..64.0,
            any::<u64>(),
            checks(),
        )
            .prop_map(|(cpu, avail, total, load, disk, checks)| Health {
                cpu_percent: cpu,
                mem_available_bytes: avail,
                mem_total_bytes: total,
                load1: load,
                disk_free_bytes: disk,
                checks,
                tags: if cpu > 50.0 {
                    [("role".to_string(), "db".to_string())].into()
                } else {
                    Default::default()
                },
            }),
    )
}

fn entry() -> impl Strategy<Value = MemberEntry> {
    let status = prop_oneof![
        Just(Status::Alive),
        Just(Status::Suspect),
        Just(Status::Dead),
        Just(Status::Left)
    ];
    (peer(), status, health(), proptest::option::of(timing())).prop_map(|(p, status, health, timing)| MemberEntry {
        timing,
        name: p.name,
        addr: p.addr,
        incarnation: p.incarnation,
        status,
        health,
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<u32>().prop_map(Message::join),
        Just(Message::Leave),
        (proptest::collection::vec(entry(), 0..8), any::<Option<u32>>())
            .prop_map(|(entries, next_page)| Message::Members { entries, next_page }),
        (any::<u64>(), health(), any::<bool>()).prop_map(|(seq, health, ack)| Message::Heartbeat { seq, health, ack }),
        any::<u64>().prop_map(|seq| Message::Ack { seq }),
        (any::<u64>(), proptest::collection::vec(entry(), 0..8)).prop_map(|(seq, view)| Message::Poll { seq, view }),
        (any::<u64>(), health()).prop_map(|(seq, health)| Message::PollReply { seq, health }),
        (any::<u64>(), any::<u64>(), proptest::collection::vec(entry(), 0..8))
            .prop_map(|(term, seq, view)| Message::LeaderHeartbeat { term, seq, view }),
        (any::<u64>(), any::<u64>(), health()).prop_map(|(term, echo, health)| Message::LeaderReport {
            term,
            echo,
            health
        }),
        (any::<u64>(), any::<bool>(), any::<u32>()).prop_map(|(term, pre, known)| Message::VoteRequest {
            term,
            pre,
            known
        }),
        (any::<u64>(), any::<bool>(), any::<bool>()).prop_map(|(term, pre, granted)| Message::VoteReply {
            term,
            pre,
            granted
        }),
    ]
}

fn keyring(byte: u8) -> Keyring {
    Keyring::new(&[vec![byte; 32]]).unwrap()
}

/// Any preset's timing under any strategy, as a node announces it.
fn timing() -> impl Strategy<Value = crate::timing::Timing> {
    use crate::config::{Config, Preset, StrategyKind};
    let strategies = [
        StrategyKind::Push,
        StrategyKind::Pull,
        StrategyKind::Ping,
        StrategyKind::Leader,
        StrategyKind::Gossip,
    ];
    (
        proptest::sample::select(Preset::ALL.to_vec()),
        proptest::sample::select(strategies.to_vec()),
    )
        .prop_map(|(preset, strategy)| crate::timing::Timing::of(&Config::preset(preset, strategy)))
}

fn envelope() -> Envelope {
    Envelope {
        timing: None,
        from: Peer {
            name: "a".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            incarnation: 0,
        },
        message: Message::Leave,
    }
}

fn here() -> std::net::SocketAddr {
    "10.0.0.9:7946".parse().unwrap()
}

fn sealed(codec: &mut Codec) -> Vec<u8> {
    let mut buf = Vec::new();
    codec.encode(&envelope(), here(), &mut buf).unwrap();
    buf
}

fn boot(generation: u64) -> Boot {
    Boot::new(generation, [0; SALT_LEN])
}

proptest! {
    #[test]
    fn every_message_survives_encode_then_decode(from in peer(), message in message(), timing in proptest::option::of(timing())) {
        let envelope = Envelope { timing, from, message };
        let mut buf = Vec::new();
        encode(&envelope, &mut buf).unwrap();
        prop_assert_eq!(decode(&buf).unwrap(), envelope.clone());
        let (mut tx, mut rx) = (Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]), Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]));
        tx.encode(&envelope, here(), &mut buf).unwrap();
        prop_assert_eq!(rx.decode(&buf).unwrap(), envelope);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let _ = decode(&bytes);
        let _ = Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]).decode(&bytes);
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), key in 0u8..3) {
        let mut datagram = vec![MAGIC[0], MAGIC[1], VERSION, key];
        datagram.extend_from_slice(&body);
        let _ = decode(&datagram);
        let _ = Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]).decode(&datagram);
    }

    #[test]
    fn any_flipped_bit_of_a_sealed_datagram_is_refused(bit in 0usize..(8 * 60)) {
        let mut tx = Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]);
        let mut datagram = sealed(&mut tx);
        let bit = bit % (8 * datagram.len());
        datagram[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]).decode(&datagram).is_err());
    }
}

#[test]
fn oversized_datagrams_are_refused_before_decoding() {
    assert_eq!(
        decode(&vec![0; MAX_DATAGRAM + 1]),
        Err(DecodeError::TooLarge(MAX_DATAGRAM + 1))
    );
}

#[test]
fn headers_are_checked_field_by_field() {
    assert_eq!(decode(b"VT"), Err(DecodeError::TooShort(2)));
    assert_eq!(decode(b"XX\x01\x00"), Err(DecodeError::BadMagic));
    assert_eq!(decode(b"VT\x09\x00"), Err(DecodeError::UnsupportedVersion(9)));
    // Version 1 sent addresses in serde's own form; its datagrams are refused, not misread.
    assert_eq!(decode(b"VT\x01\x00"), Err(DecodeError::UnsupportedVersion(1)));
    // Version 2 carried a random nonce in every sealed datagram and no announced timing.
    assert_eq!(decode(b"VT\x02\x00"), Err(DecodeError::UnsupportedVersion(2)));
    assert_eq!(decode(b"VT\x03\x07"), Err(DecodeError::Encrypted(7)));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut buf = Vec::new();
    encode(&envelope(), &mut buf).unwrap();
    buf.push(0);
    assert_eq!(decode(&buf), Err(DecodeError::Trailing(1)));
}

#[test]
fn a_length_prefix_larger_than_the_datagram_is_refused() {
    // A Members message claiming 2^32 entries in a few bytes.
    let mut buf = Vec::new();
    let members = Envelope {
        message: Message::Members {
            entries: vec![],
            next_page: None,
        },
        ..envelope()
    };
    encode(&members, &mut buf).unwrap();
    let at = buf.len() - 2; // entries length (0) then next_page (None)
    buf.splice(at..at + 1, [0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(matches!(decode(&buf), Err(DecodeError::Body(_))));
}

#[test]
fn forged_tampered_truncated_wrong_key_wrong_label_and_replayed_datagrams_are_refused() {
    let mut tx = Codec::new("prod", Some(keyring(1)), boot(1)).with_local(vec![here()]);
    let mut rx = Codec::new("prod", Some(keyring(1)), boot(1)).with_local(vec![here()]);
    let good = sealed(&mut tx);
    assert_eq!(rx.decode(&good), Ok(envelope()));
    assert_eq!(rx.decode(&good), Err(DecodeError::Replayed), "the same datagram twice");

    let mut tampered = sealed(&mut tx);
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    assert_eq!(rx.decode(&tampered), Err(DecodeError::Forged));
    // Header, generation (1 byte), salt (6), sequence number (1): no room for a tag.
    let clear = HEADER_LEN + 1 + SALT_LEN + 1;
    assert_eq!(
        rx.decode(&sealed(&mut tx)[..clear + TAG_LEN - 1]),
        Err(DecodeError::TooShort(clear + TAG_LEN - 1))
    );
    assert_eq!(rx.decode(&sealed(&mut tx)[..5]), Err(DecodeError::TooShort(5)));

    let mut other_key = Codec::new("prod", Some(keyring(2)), boot(1)).with_local(vec![here()]);
    assert_eq!(
        rx.decode(&sealed(&mut other_key)),
        Err(DecodeError::UnknownKey(keyring(2).primary_id()))
    );
    let mut other_label = Codec::new("staging", Some(keyring(1)), boot(1)).with_local(vec![here()]);
    assert_eq!(rx.decode(&sealed(&mut other_label)), Err(DecodeError::Forged));

    let mut forged_header = sealed(&mut tx);
    forged_header[3] = keyring(1).primary_id();
    forged_header[2] = VERSION;
    forged_header[0] = b'V';
    assert_eq!(
        rx.decode(&forged_header),
        Ok(envelope()),
        "an untouched header still opens"
    );
}

#[test]
fn sealing_adds_the_tag_and_the_salt_and_drops_the_cluster_tag_and_the_destination() {
    let mut plain = Codec::new("prod", None, boot(1_764_000_000_000_000));
    let mut keyed = Codec::new("prod", Some(keyring(1)), boot(1_764_000_000_000_000)).with_local(vec![here()]);
    let cluster_tag_len = postcard::to_allocvec(&cluster_tag("prod")).unwrap().len();
    let destination_len = postcard::to_allocvec(&Destination { to: here() }).unwrap().len();
    assert_eq!(
        sealed(&mut keyed).len(),
        sealed(&mut plain).len() + TAG_LEN + SALT_LEN - cluster_tag_len - destination_len
    );
}

#[test]
fn a_datagram_recorded_on_its_way_to_one_node_is_refused_by_another() {
    let mut tx = Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]);
    let elsewhere = vec!["10.0.0.8:7946".parse().unwrap()];
    let mut sealed_elsewhere = Codec::new("c", Some(keyring(1)), boot(1)).with_local(elsewhere.clone());
    assert_eq!(
        sealed_elsewhere.decode(&sealed(&mut tx)),
        Err(DecodeError::Forged),
        "a sealed datagram's destination is authenticated, not carried"
    );
    let mut plain = Codec::new("c", None, boot(1));
    let mut plain_elsewhere = Codec::new("c", None, boot(1)).with_local(elsewhere);
    assert_eq!(
        plain_elsewhere.decode(&sealed(&mut plain)),
        Err(DecodeError::Misdirected(here()))
    );
    let mut intended = Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]);
    assert_eq!(intended.decode(&sealed(&mut tx)), Ok(envelope()));
}

#[test]
fn a_keyed_cluster_never_accepts_plaintext_and_vice_versa() {
    let mut plain = Codec::new("prod", None, boot(1));
    let mut keyed = Codec::new("prod", Some(keyring(1)), boot(1)).with_local(vec![here()]);
    assert_eq!(keyed.decode(&sealed(&mut plain)), Err(DecodeError::Plaintext));
    let id = keyring(1).primary_id();
    assert_eq!(plain.decode(&sealed(&mut keyed)), Err(DecodeError::Encrypted(id)));
}

#[test]
fn a_plaintext_cluster_refuses_another_clusters_datagrams() {
    let mut ours = Codec::new("prod", None, boot(1));
    let mut theirs = Codec::new("staging", None, boot(1));
    assert_eq!(ours.decode(&sealed(&mut theirs)), Err(DecodeError::WrongCluster));
}

#[test]
fn a_restarted_sender_is_accepted_and_its_previous_run_is_not() {
    let mut rx = Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]);
    let mut first_run = Codec::new("c", Some(keyring(1)), boot(100)).with_local(vec![here()]);
    let recorded = sealed(&mut first_run);
    rx.decode(&sealed(&mut first_run)).unwrap();
    let mut second_run = Codec::new("c", Some(keyring(1)), boot(200)).with_local(vec![here()]);
    rx.decode(&sealed(&mut second_run)).unwrap();
    assert_eq!(rx.decode(&recorded), Err(DecodeError::Replayed));
}

#[test]
fn long_member_lists_are_split_into_datagrams_that_fit() {
    let entries: Vec<MemberEntry> = (0..200)
        .map(|i| MemberEntry {
            timing: None,
            name: format!("node-with-a-longish-name-{i:04}"),
            addr: "10.0.0.1:7946".parse().unwrap(),
            incarnation: u64::MAX,
            status: Status::Alive,
            health: Some(Health {
                cpu_percent: 1.0,
                mem_available_bytes: u64::MAX,
                mem_total_bytes: u64::MAX,
                load1: 1.0,
                disk_free_bytes: u64::MAX,
                checks: None,
                tags: Default::default(),
            }),
        })
        .collect();
    let chunks = chunk_entries(entries.clone());
    assert!(chunks.len() > 1);
    assert_eq!(chunks.concat(), entries);
    let from = Peer {
        name: "n".repeat(MAX_NAME_LEN),
        addr: "[::1]:65535".parse().unwrap(),
        incarnation: u64::MAX,
    };
    let mut codec = Codec::new(DEFAULT_LABEL, Some(keyring(1)), boot(u64::MAX)).with_local(vec![here()]);
    for view in chunks {
        let envelope = Envelope {
            timing: None,
            from: from.clone(),
            message: Message::Poll { seq: u64::MAX, view },
        };
        let mut buf = Vec::new();
        codec.encode(&envelope, here(), &mut buf).unwrap();
        assert!(buf.len() <= LIST_BUDGET + 100, "{} bytes", buf.len());
    }
    assert_eq!(chunk_entries(Vec::new()), vec![Vec::new()]);
}

#[test]
fn a_join_request_is_at_least_as_large_as_a_full_reply_page() {
    let from = Peer {
        name: "j".into(),
        addr: "10.0.0.1:7946".parse().unwrap(),
        incarnation: 0,
    };
    let mut request = Vec::new();
    encode(
        &Envelope {
            timing: None,
            from,
            message: Message::join(0),
        },
        &mut request,
    )
    .unwrap();
    assert!(request.len() >= HEADER_LEN + LIST_BUDGET, "{} bytes", request.len());
}

/// The largest member entry an honest node can produce: longest name, IPv6 address,
/// largest numbers, and [`MAX_SERVICES`] services with the longest names.
fn largest_entry() -> MemberEntry {
    let service = |i: usize| ServiceEntry {
        name: format!("{i}").repeat(MAX_SERVICE_NAME_LEN),
        addr: "[ffff::ffff]:65535".parse().unwrap(),
        weight: u16::MAX,
        status: CheckStatus::Critical,
    };
    MemberEntry {
        timing: None,
        name: "n".repeat(MAX_NAME_LEN),
        addr: "[ffff::ffff]:65535".parse().unwrap(),
        incarnation: u64::MAX,
        status: Status::Left,
        health: Some(Health {
            cpu_percent: 100.0,
            mem_available_bytes: u64::MAX,
            mem_total_bytes: u64::MAX,
            load1: 1e9,
            disk_free_bytes: u64::MAX,
            checks: Some(Checks {
                status: CheckStatus::Critical,
                services: (0..MAX_SERVICES).map(service).collect(),
            }),
            tags: largest_tags(),
        }),
    }
}

/// Tags at every bound at once: as many as allowed, holding as many bytes as allowed.
fn largest_tags() -> crate::tags::Tags {
    use crate::tags::{MAX_TAGS, MAX_TAGS_BYTES};
    let per = MAX_TAGS_BYTES / MAX_TAGS;
    (0..MAX_TAGS)
        .map(|i| (format!("{i:0>8}"), "v".repeat(per - 8)))
        .collect()
}

#[test]
fn the_largest_member_entry_with_services_fits_the_list_budget() {
    let entry = largest_entry();
    let len = body_len(&entry);
    assert!(len + ENVELOPE_ALLOWANCE <= LIST_BUDGET, "{len} bytes");
    let heartbeat = Envelope {
        timing: None,
        from: Peer {
            name: entry.name.clone(),
            addr: entry.addr,
            incarnation: u64::MAX,
        },
        message: Message::Heartbeat {
            seq: u64::MAX,
            health: entry.health.clone(),
            ack: true,
        },
    };
    assert!(body_len(&heartbeat) <= LIST_BUDGET, "{} bytes", body_len(&heartbeat));
    let mut buf = Vec::new();
    encode(&heartbeat, &mut buf).unwrap();
    assert_eq!(decode(&buf).unwrap(), heartbeat);
}

#[test]
fn a_service_list_longer_than_the_limit_is_refused_on_decode() {
    let mut entry = largest_entry();
    let checks = entry.health.as_mut().unwrap().checks.as_mut().unwrap();
    checks.services.push(checks.services[0].clone());
    checks.services.iter_mut().for_each(|s| s.name = "s".into());
    let envelope = Envelope {
        timing: None,
        from: Peer {
            name: "a".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            incarnation: 0,
        },
        message: Message::Heartbeat {
            seq: 1,
            health: entry.health,
            ack: false,
        },
    };
    let mut buf = Vec::new();
    encode(&envelope, &mut buf).unwrap();
    assert!(matches!(decode(&buf), Err(DecodeError::Body(_))));
}

/// The codec encodes and decodes through `FrameRef` and `FrameHead`; the documented
/// format is `postcard(Frame)`. Both directions must agree with it byte for byte.
#[test]
fn the_codec_speaks_exactly_the_documented_frame_format() {
    let envelope = Envelope {
        timing: None,
        from: Peer {
            name: "n1".into(),
            addr: "10.0.0.1:7946".parse().unwrap(),
            incarnation: 3,
        },
        message: Message::Heartbeat {
            seq: 9,
            health: None,
            ack: true,
        },
    };
    let to: SocketAddr = "10.0.0.2:7946".parse().unwrap();
    let mut codec = Codec::new(DEFAULT_LABEL, None, boot(42));
    let mut bytes = Vec::new();
    codec.encode(&envelope, to, &mut bytes).unwrap();
    let frame = Frame {
        cluster: cluster_tag(DEFAULT_LABEL),
        generation: 42,
        seq: 1,
        to,
        envelope: envelope.clone(),
    };
    assert_eq!(bytes[HEADER_LEN..], postcard::to_allocvec(&frame).unwrap()[..]);
    let decoded: Frame = postcard::from_bytes(&bytes[HEADER_LEN..]).unwrap();
    assert_eq!(decoded, frame);
    assert_eq!(Codec::plaintext().decode(&bytes), Ok(envelope));
}

fn entry_named(name: &str) -> MemberEntry {
    MemberEntry {
        timing: None,
        name: name.into(),
        addr: "10.0.0.3:7946".parse().unwrap(),
        incarnation: 2,
        status: Status::Suspect,
        health: None,
    }
}

/// A health summary announcing one service called `name`.
fn service_named(name: &str) -> Option<Health> {
    let services = vec![ServiceEntry {
        name: name.into(),
        addr: "10.0.0.3:80".parse().unwrap(),
        weight: 1,
        status: CheckStatus::Passing,
    }];
    let checks = Some(Checks {
        status: CheckStatus::Passing,
        services,
    });
    Some(Health {
        checks,
        ..Health::default()
    })
}

fn rumor(entry: MemberEntry, accuser: &str) -> crate::message::Rumor {
    crate::message::Rumor {
        entry,
        accusers: vec!["b".into(), accuser.into()],
        age_ms: 5,
    }
}

fn beat_named(name: &str) -> crate::message::Beat {
    crate::message::Beat {
        name: name.into(),
        addr: "10.0.0.3:7946".parse().unwrap(),
        incarnation: 0,
        status: Status::Alive,
        heartbeat: 7,
    }
}

/// Messages carrying `name` in a member list or a health summary.
fn lists_naming(name: &str) -> Vec<(&'static str, Message)> {
    let (entry, service) = (entry_named, service_named);
    vec![
        (
            "members entry",
            Message::Members {
                entries: vec![entry("c"), entry(name)],
                next_page: None,
            },
        ),
        (
            "poll view",
            Message::Poll {
                seq: 1,
                view: vec![entry(name)],
            },
        ),
        (
            "leader view",
            Message::LeaderHeartbeat {
                term: 1,
                seq: 1,
                view: vec![entry(name)],
            },
        ),
        (
            "heartbeat service",
            Message::Heartbeat {
                seq: 1,
                health: service(name),
                ack: false,
            },
        ),
        (
            "poll reply service",
            Message::PollReply {
                seq: 1,
                health: service(name),
            },
        ),
        (
            "leader report service",
            Message::LeaderReport {
                term: 1,
                echo: 0,
                health: service(name),
            },
        ),
        (
            "digest service",
            Message::Digest {
                health: service(name),
                entries: vec![beat_named("a")],
            },
        ),
    ]
}

/// Messages carrying `name` in news, digests, opinions or a probe target.
fn news_naming(name: &str) -> Vec<(&'static str, Message)> {
    let entry = entry_named;
    let with_service = MemberEntry {
        health: service_named(name),
        ..entry("c")
    };
    vec![
        (
            "members entry's service",
            Message::Members {
                entries: vec![with_service.clone()],
                next_page: None,
            },
        ),
        (
            "ping rumor",
            Message::Ping {
                seq: 1,
                gossip: vec![rumor(entry(name), "b")],
            },
        ),
        (
            "ping rumor's service",
            Message::Ping {
                seq: 1,
                gossip: vec![rumor(with_service, "b")],
            },
        ),
        (
            "ack accuser",
            Message::PingAck {
                seq: 1,
                gossip: vec![rumor(entry("c"), name)],
            },
        ),
        (
            "news rumor",
            Message::News {
                gossip: vec![rumor(entry(name), "b")],
            },
        ),
    ]
}

/// Messages carrying `name` in digests, opinions or a probe target.
fn counters_naming(name: &str) -> Vec<(&'static str, Message)> {
    let opinion = crate::message::Opinion {
        name: name.into(),
        incarnation: 0,
        heard: Some(false),
        ask: false,
    };
    vec![
        (
            "ping-req target",
            Message::PingReq {
                seq: 1,
                target: name.into(),
            },
        ),
        (
            "digest beat",
            Message::Digest {
                health: None,
                entries: vec![beat_named("a"), beat_named(name)],
            },
        ),
        (
            "digest reply beat",
            Message::DigestReply {
                health: None,
                entries: vec![beat_named(name)],
            },
        ),
        (
            "opinion",
            Message::Opinions {
                opinions: vec![opinion],
            },
        ),
    ]
}

/// One envelope for every place a name can sit, each carrying `name` there and only
/// valid names elsewhere.
fn name_in_every_place(name: &str) -> Vec<(&'static str, Envelope)> {
    let from = |name: &str| Peer {
        name: name.into(),
        addr: "10.0.0.1:7946".parse().unwrap(),
        incarnation: 1,
    };
    let sender = (
        "sender",
        Envelope {
            timing: None,
            from: from(name),
            message: Message::Leave,
        },
    );
    let elsewhere = lists_naming(name)
        .into_iter()
        .chain(news_naming(name))
        .chain(counters_naming(name));
    let elsewhere = elsewhere.map(|(place, message)| {
        (
            place,
            Envelope {
                timing: None,
                from: from("a"),
                message,
            },
        )
    });
    std::iter::once(sender).chain(elsewhere).collect()
}

#[test]
fn a_bad_name_anywhere_in_a_datagram_refuses_it_with_its_own_reason() {
    let too_long = "n".repeat(MAX_NAME_LEN + 1);
    let service_too_long = "s".repeat(MAX_SERVICE_NAME_LEN + 1);
    for bad in [
        "",
        "a\nb",
        "bell\u{7}",
        "tab\tname",
        "with space",
        "caf\u{e9}",
        "a/b",
        "\u{1b}[31m",
        &too_long,
    ] {
        for (place, envelope) in name_in_every_place(bad) {
            let mut buf = Vec::new();
            encode(&envelope, &mut buf).unwrap();
            assert_eq!(decode(&buf), Err(DecodeError::BadName), "{bad:?} as the {place}");
            let (mut tx, mut rx) = (
                Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]),
                Codec::new("c", Some(keyring(1)), boot(1)).with_local(vec![here()]),
            );
            tx.encode(&envelope, here(), &mut buf).unwrap();
            assert_eq!(
                rx.decode(&buf),
                Err(DecodeError::BadName),
                "{bad:?} as the {place}, sealed"
            );
        }
    }
    // A service name has its own, shorter bound.
    let (place, envelope) = name_in_every_place(&service_too_long).swap_remove(4);
    assert_eq!(place, "heartbeat service");
    let mut buf = Vec::new();
    encode(&envelope, &mut buf).unwrap();
    assert_eq!(decode(&buf), Err(DecodeError::BadName), "{place}");
    assert_eq!(DecodeError::BadName.reason(), "bad_name");
    assert!(DecodeError::REASONS.contains(&"bad_name"));
}

#[test]
fn every_allowed_name_in_every_place_is_accepted() {
    for good in [
        "a",
        "node-1",
        "web_2.eu-west.example.com",
        "10.0.0.1:7946",
        "N:1",
        &"n".repeat(32),
    ] {
        for (place, envelope) in name_in_every_place(good) {
            let mut buf = Vec::new();
            encode(&envelope, &mut buf).unwrap();
            assert_eq!(decode(&buf), Ok(envelope), "{good:?} as the {place}");
        }
    }
    assert!(is_valid_name(&"n".repeat(MAX_NAME_LEN), MAX_NAME_LEN));
}

proptest! {
    /// A name with any whitespace, control or non-ASCII character is refused, wherever it sits.
    #[test]
    fn no_decoded_datagram_carries_an_invalid_name(name in "\\PC{0,3}[\\x00-\\x20\\x7f-\\u{2000}]\\PC{0,3}", place in 0usize..17) {
        let (_, envelope) = name_in_every_place(&name).swap_remove(place);
        let mut buf = Vec::new();
        encode(&envelope, &mut buf).unwrap();
        prop_assert_eq!(decode(&buf), Err(DecodeError::BadName));
    }
}
