// The console works without this file; with it, a little better: a button marked
// data-confirm asks first, a return or rejection without a reason is caught before it is sent,
// and a form is not sent twice by a double click. One form needs it: a visitor's complaint
// carries a proof of work, found here before the form is sent.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = event.submitter;
  if (form.dataset.proofBits && !form.elements.proof_nonce.value) {
    event.preventDefault();
    if (!form.dataset.sent) {
      form.dataset.sent = "1";
      prove(form);
    }
    return;
  }
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  const reason = form.querySelector("select[name=reason]");
  if (button && reason && ["return", "reject"].includes(button.value) && !reason.value) {
    event.preventDefault();
    reason.setCustomValidity(reason.dataset.required || "");
    reason.reportValidity();
    reason.addEventListener("change", () => reason.setCustomValidity(""), { once: true });
    return;
  }
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
  // The pressed button's name and value are sent before the buttons are disabled.
  if (button && button.name) {
    const carried = document.createElement("input");
    carried.type = "hidden";
    carried.name = button.name;
    carried.value = button.value;
    form.appendChild(carried);
  }
  for (const b of form.querySelectorAll("button")) b.disabled = true;
});

// SHA-256 (FIPS 180-4) of the short messages a proof needs, written out because the browser's
// own digest is asynchronous (a million awaits take far longer than a million hashes) and is
// missing outside secure contexts.
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const rotr = (x, n) => (x >>> n) | (x << (32 - n));

function compress(h, bytes, offset, w) {
  for (let i = 0; i < 16; i++) {
    const o = offset + 4 * i;
    w[i] = (bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15], b = w[i - 2];
    const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
    const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (let i = 0; i < 64; i++) {
    const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
}

function zeroBits(h) {
  let bits = 0;
  for (let i = 0; i < 8; i++) {
    const z = Math.clz32(h[i]);
    bits += z;
    if (z < 32) break;
  }
  return bits;
}

// The first decimal nonce from `start` (a batch of `count`) such that SHA-256 of
// "challenge:nonce" begins with `bits` zero bits, or null. The full 64-byte blocks of the
// prefix are hashed once.
function search(challenge, bits, start, count) {
  const prefix = new TextEncoder().encode(challenge + ":");
  const full = prefix.length - (prefix.length % 64);
  const w = new Int32Array(64);
  const mid = new Int32Array(IV);
  for (let o = 0; o < full; o += 64) compress(mid, prefix, o, w);
  const tail = prefix.subarray(full);
  const buffer = new Uint8Array(128);
  const h = new Int32Array(8);
  for (let n = start; n < start + count; n++) {
    const nonce = String(n);
    buffer.fill(0);
    buffer.set(tail);
    let length = tail.length;
    for (let i = 0; i < nonce.length; i++) buffer[length++] = nonce.charCodeAt(i);
    buffer[length] = 0x80;
    const end = length + 9 <= 64 ? 64 : 128;
    const total = (full + length) * 8;
    buffer[end - 4] = total >>> 24; buffer[end - 3] = (total >>> 16) & 255;
    buffer[end - 2] = (total >>> 8) & 255; buffer[end - 1] = total & 255;
    h.set(mid);
    compress(h, buffer, 0, w);
    if (end === 128) compress(h, buffer, 64, w);
    if (zeroBits(h) >= bits) return nonce;
  }
  return null;
}

// Solve the form's challenge in batches (the page stays responsive), then send the form.
function prove(form) {
  const status = document.getElementById("proof-status");
  if (status) status.hidden = false;
  for (const b of form.querySelectorAll("button")) b.disabled = true;
  const challenge = form.elements.proof_challenge.value;
  const bits = Number(form.dataset.proofBits);
  const batch = 20000;
  let start = 0;
  const step = () => {
    const nonce = search(challenge, bits, start, batch);
    if (nonce === null) {
      start += batch;
      setTimeout(step, 0);
      return;
    }
    form.elements.proof_nonce.value = nonce;
    form.submit();
  };
  setTimeout(step, 0);
}
