use serde_json::json;

use super::*;

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
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
    let at = |n: usize| Checkpoint {
        size: n as u64,
        head: if n == 0 { GENESIS } else { c[n - 1].chain },
    };
    assert_eq!(verify(&c, &[at(0), at(4), at(10)]), Ok(()));
    assert_eq!(verify(&[], &[at(0)]), Ok(()));
}

#[test]
fn every_kind_of_tampering_is_named_at_its_first_record() {
    let c = chain(10);
    let head = |n: usize| Checkpoint {
        size: n as u64,
        head: c[n - 1].chain,
    };
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
    let forged = Checkpoint {
        size: 3,
        head: [7; 32],
    };
    assert_eq!(
        verify(&c, &[forged]),
        Err(Tamper::Diverged { checkpoint: 3 })
    );
}
