// The device's keys and credential in IndexedDB (one record), so re-opening needs no pairing.
const DB = "hitl-desk";
const STORE = "device";

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(req.result); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  });
}

export const loadDevice = () => run("readonly", (s) => s.get("credential"));
export const saveDevice = (cred) => run("readwrite", (s) => s.put(cred, "credential"));
export const forgetDevice = () => run("readwrite", (s) => s.delete("credential"));
