use serde_json::json;

use super::*;

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The checkpoint of the first `n` records of `c`.
fn checkpoint_of(c: &[Stored], n: usize) -> Checkpoint {
    Checkpoint {
        origin: "test".to_owned(),
        size: n as u64,
        root: merkle_root(&c[..n].iter().map(|r| r.leaf).collect::<Vec<_>>()),
        head: if n == 0 { GENESIS } else { c[n - 1].chain },
    }
}

/// A chain of `n` records written as the server writes them.
fn chain(n: u64) -> Vec<Stored> {
    let mut previous = GENESIS;
    (1..=n)
        .map(|seq| {
            let canonical = canonical(&json!({
                "seq": seq, "actor": "alice@mutuelle", "action": "search-events",
                "query": format!("host:ws-{seq}"), "count": seq * 3,
            }))
            .unwrap();
            let leaf = leaf_hash(&canonical);
            let chain = chain_hash(&previous, &leaf);
            previous = chain;
            Stored {
                seq,
                canonical,
                leaf,
                chain,
            }
        })
        .collect()
}

#[test]
fn canonical_bytes_follow_rfc8785() {
    // Keys sorted, no spaces, numbers in their shortest form, strings escaped minimally.
    let bytes =
        canonical(&json!({"b": 1.0, "a": "é\n", "c": [3, {"z": null, "y": true}]})).unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"a":"é\n","b":1,"c":[3,{"y":true,"z":null}]}"#
    );
    assert!(canonical(&json!([1, 2])).is_err());
}

#[test]
fn rfc6962_hashes() {
    // The empty tree, and the leaf hash of empty data (RFC 6962 test vectors).
    assert_eq!(
        hex(&merkle_root(&[])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(&leaf_hash(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    // The roots of the first 1..=8 leaves of the certificate-transparency reference tree
    // (leaf data "", 00, 10, 2021, 3031, 40414243, 50..57, 60..6f).
    let data: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let leaves: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
    for (n, root) in roots.iter().enumerate() {
        assert_eq!(hex(&merkle_root(&leaves[..=n])), *root, "{} leaves", n + 1);
    }
    let l: Vec<Hash> = (0u8..7).map(|i| leaf_hash(&[i])).collect();
    assert_eq!(merkle_root(&l[..1]), l[0]);
    assert_eq!(merkle_root(&l[..2]), node(&l[0], &l[1]));
    // Three leaves split 2 + 1; five split 4 + 1; seven split 4 + 3.
    assert_eq!(merkle_root(&l[..3]), node(&node(&l[0], &l[1]), &l[2]));
    let four = node(&node(&l[0], &l[1]), &node(&l[2], &l[3]));
    assert_eq!(merkle_root(&l[..4]), four);
    assert_eq!(merkle_root(&l[..5]), node(&four, &l[4]));
    assert_eq!(
        merkle_root(&l[..7]),
        node(&four, &node(&node(&l[4], &l[5]), &l[6]))
    );
    // Leaf and interior hashes are domain-separated.
    assert_ne!(leaf_hash(&[1u8; 64]), node(&[1; 32], &[1; 32]));
}

#[test]
fn an_intact_chain_verifies_against_its_checkpoints() {
    let c = chain(10);
    let at = |n: usize| checkpoint_of(&c, n);
    assert_eq!(verify(&c, &[at(0), at(4), at(10)]), Ok(()));
    assert_eq!(verify(&[], &[at(0)]), Ok(()));
}

#[test]
fn every_kind_of_tampering_is_named_at_its_first_record() {
    let c = chain(10);
    let head = |n: usize| checkpoint_of(&c, n);
    // Edit a field of record 4 (its bytes change; the stored hashes do not).
    let mut edited = c.clone();
    edited[3].canonical = String::from_utf8(edited[3].canonical.clone())
        .unwrap()
        .replace("ws-4", "ws-5")
        .into_bytes();
    assert_eq!(verify(&edited, &[]), Err(Tamper::Edited { seq: 4 }));
    // Edit and rehash the leaf: the chain breaks there.
    edited[3].leaf = leaf_hash(&edited[3].canonical);
    assert_eq!(verify(&edited, &[]), Err(Tamper::Chain { seq: 4 }));
    // Delete record 6.
    let mut deleted = c.clone();
    deleted.remove(5);
    assert_eq!(
        verify(&deleted, &[]),
        Err(Tamper::Sequence {
            expected: 6,
            found: 7
        })
    );
    // Delete record 6 and renumber the rest: the chain breaks at the new 6.
    for (i, r) in deleted.iter_mut().enumerate() {
        r.seq = i as u64 + 1;
    }
    assert_eq!(verify(&deleted, &[]), Err(Tamper::Chain { seq: 6 }));
    // Swap records 2 and 3.
    let mut swapped = c.clone();
    swapped.swap(1, 2);
    assert_eq!(
        verify(&swapped, &[]),
        Err(Tamper::Sequence {
            expected: 2,
            found: 3
        })
    );
    // Insert a record after 5, renumbered, with its own correct-looking hashes.
    let mut inserted = c.clone();
    let forged = chain(11).pop().unwrap();
    inserted.insert(5, forged);
    for (i, r) in inserted.iter_mut().enumerate() {
        r.seq = i as u64 + 1;
    }
    // Its own leaf is right, but its chain hash follows another record than the new 5th.
    assert_eq!(verify(&inserted, &[]), Err(Tamper::Chain { seq: 6 }));
    // Truncate after 7: only a checkpoint kept outside shows it.
    let truncated = c[..7].to_vec();
    assert_eq!(verify(&truncated, &[]), Ok(()));
    assert_eq!(
        verify(&truncated, &[head(10)]),
        Err(Tamper::Truncated {
            checkpoint: 10,
            found: 7
        })
    );
    // Rewrite the whole chain from record 3 on, consistently: the checkpoint of size 5 no
    // longer matches its head.
    let mut rewritten = c.clone();
    let mut previous = rewritten[1].chain;
    for r in rewritten.iter_mut().skip(2) {
        r.canonical.extend_from_slice(b" ");
        r.leaf = leaf_hash(&r.canonical);
        r.chain = chain_hash(&previous, &r.leaf);
        previous = r.chain;
    }
    assert_eq!(verify(&rewritten, &[]), Ok(()), "self-consistent");
    assert_eq!(
        verify(&rewritten, &[head(5)]),
        Err(Tamper::Diverged { checkpoint: 5 })
    );
    // A forged checkpoint (a head no chain had) is refused as well.
    let mut forged = checkpoint_of(&c, 3);
    forged.head = [7; 32];
    assert_eq!(
        verify(&c, &[forged]),
        Err(Tamper::Diverged { checkpoint: 3 })
    );
    // The right head with another root: refused too.
    let mut forged = checkpoint_of(&c, 3);
    forged.root = [7; 32];
    assert_eq!(
        verify(&c, &[forged]),
        Err(Tamper::Diverged { checkpoint: 3 })
    );
}

#[test]
fn the_compact_range_gives_the_merkle_root_at_every_size() {
    let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let mut range = CompactRange::new();
    assert_eq!(range.root(), merkle_root(&[]));
    for n in 1..=leaves.len() {
        range.push(leaves[n - 1]);
        assert_eq!(range.size(), n as u64);
        assert_eq!(range.root(), merkle_root(&leaves[..n]), "size {n}");
    }
}

#[test]
fn the_verifier_reports_its_size_head_and_root_as_it_goes() {
    let records = chain(5);
    let mut v = Verifier::new(&[]);
    assert_eq!(
        (v.size(), v.head(), v.root()),
        (0, GENESIS, merkle_root(&[]))
    );
    for (i, r) in records.iter().enumerate() {
        v.push(r).expect("a good record");
        let leaves: Vec<Hash> = records[..=i].iter().map(|r| r.leaf).collect();
        assert_eq!(v.size(), i as u64 + 1);
        assert_eq!(v.head(), r.chain);
        assert_eq!(v.root(), merkle_root(&leaves));
    }
    assert_eq!(v.finish(), Ok(5));
}
