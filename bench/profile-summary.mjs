import { readFileSync, readdirSync } from 'node:fs';
const file = readdirSync(process.argv[2])
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort()
  .at(-1);
const profile = JSON.parse(readFileSync(`${process.argv[2]}/${file}`, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = profile.timeDeltas;
const counts = new Map();
profile.samples.forEach((id, i) => counts.set(id, (counts.get(id) ?? 0) + (dt[i] ?? 0)));
let total = 0;
for (const [id, t] of counts) {
  const n = byId.get(id);
  const key = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*node_modules\//, '').replace('file:///work/main/', '')}:${n.callFrame.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + t);
  total += t;
}
// inclusive by package
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const pkgTime = new Map();
for (const [id, t] of counts) {
  const seen = new Set();
  let cur = id;
  while (cur !== undefined) {
    const n = byId.get(cur);
    const url = n.callFrame.url;
    const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
    const pkg = m ? m[1] : url.includes('/work/main/dist') ? 'dist:' + url.split('/dist/')[1] : url.startsWith('node:') ? url : null;
    if (pkg && !seen.has(pkg)) {
      seen.add(pkg);
      pkgTime.set(pkg, (pkgTime.get(pkg) ?? 0) + t);
    }
    cur = parent.get(cur);
  }
}
console.log('total ms', (total / 1000).toFixed(0));
console.log('--- self top 30');
[...self]
  .sort((a, b) => b[1] - a[1])
  .slice(0, 30)
  .forEach(([k, t]) => console.log(((t / total) * 100).toFixed(1).padStart(5) + '%', k));
console.log('--- inclusive by module top 30');
[...pkgTime]
  .sort((a, b) => b[1] - a[1])
  .slice(0, 30)
  .forEach(([k, t]) => console.log(((t / total) * 100).toFixed(1).padStart(5) + '%', k));
