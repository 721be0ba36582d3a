// In-browser checks of the transparency log: RFC 9162 consistency proofs and head signatures.
// Mirrors src/deconfliction/proof/merkle.py and tree_head.py (WebCrypto: SHA-256, Ed25519).

const HEAD_KIND = "deconfliction/tree-head/v2";
const UNNAMED_HEAD_KIND = "deconfliction/tree-head/v1"; // a head signed before logs had ids

function bytes(base64) {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

async function sha256(...parts) {
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", joined));
}

const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);
const equal = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

// RFC 9162 §2.1.4.2: whether `proof` (base64 nodes) shows the tree of `first` entries with root
// `oldRoot` is a prefix of the tree of `second` entries with root `newRoot` (base64).
export async function verifyConsistency(first, second, proof, oldRoot, newRoot) {
  const path = proof.map(bytes);
  const oldHash = bytes(oldRoot);
  const newHash = bytes(newRoot);
  if (first > second || first < 0) return false;
  if (first === second) return path.length === 0 && equal(oldHash, newHash);
  if (first === 0) return path.length === 0 && equal(oldHash, await sha256(new Uint8Array(0)));
  if (!path.length) return false;
  if ((first & (first - 1)) === 0) path.unshift(oldHash);
  let fn = first - 1;
  let sn = second - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn & 1 || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (!(fn & 1) && fn !== 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && equal(fr, oldHash) && equal(sr, newHash);
}

// Whether `head` is signed by the Ed25519 `publicKey` (base64); null where this browser has no
// Ed25519 in WebCrypto. The signed bytes are the RFC 8785 JSON of the kind, the log's id (if the
// head names one) and the four other fields (keys in code-point order; every value is ASCII, so
// JSON.stringify writes the same bytes).
export async function verifyHeadSignature(head, publicKey) {
  const named = head.log_id !== undefined && head.log_id !== null;
  const payload = JSON.stringify({
    key_id: head.key_id,
    kind: named ? HEAD_KIND : UNNAMED_HEAD_KIND,
    ...(named ? { log_id: head.log_id } : {}),
    root_hash: head.root_hash,
    timestamp: head.timestamp,
    tree_size: head.tree_size,
  });
  let key;
  try {
    key = await crypto.subtle.importKey("raw", bytes(publicKey), { name: "Ed25519" }, false, ["verify"]);
  } catch (error) {
    if (error.name === "NotSupportedError") return null;
    return false;
  }
  return crypto.subtle.verify({ name: "Ed25519" }, key, bytes(head.signature), new TextEncoder().encode(payload));
}
