import { DatasetBuilder, type Dataset } from '../../data/index.ts';
import { Rng } from '../../math/index.ts';

/**
 * A small deterministic dataset whose right answers are known: items `i0..` fall into `categories`
 * genres (item i is in genre i % categories); user u prefers genre u % categories (country
 * `c<genre>`), and 90% of its events are in that genre. For engine and service tests. `embedding` d > 0
 * adds an item vector column `emb` of width d (the genre's direction plus noise, on a stream of its own;
 * every 11th item has none).
 * @example const ds = fixtureDataset({ users: 60, items: 80 })
 */
export function fixtureDataset(opts: { users?: number; items?: number; categories?: number; perUser?: number; seed?: number; embedding?: number } = {}): Dataset {
  const nu = opts.users ?? 60;
  const ni = opts.items ?? 80;
  const nc = opts.categories ?? 4;
  const per = opts.perUser ?? 8;
  const rng = new Rng(opts.seed ?? 7);
  const embRng = opts.embedding ? new Rng((opts.seed ?? 7) + 1000) : null;
  const b = new DatasetBuilder(
    {
      user: [
        { name: 'country', kind: 'categorical' },
        { name: 'age', kind: 'numeric' },
      ],
      item: [
        { name: 'genre', kind: 'multi-categorical' },
        { name: 'price', kind: 'numeric' },
        ...(opts.embedding ? [{ name: 'emb', kind: 'vector' as const, dim: opts.embedding }] : []),
      ],
      eventTypes: [
        { name: 'view', weight: 1, negative: false },
        { name: 'purchase', weight: 3, negative: false },
        { name: 'dislike', weight: 1, negative: true },
      ],
    },
    'fixture',
  );
  for (let i = 0; i < ni; i++) {
    const r = b.items.row(`i${i}`);
    b.items.set(r, 'genre', [`g${i % nc}`]);
    b.items.set(r, 'price', 5 + (i % 7));
    if (embRng && i % 11 !== 0) b.items.set(r, 'emb', Array.from({ length: opts.embedding! }, (_, k) => (k % nc === i % nc ? 1 : 0) + 0.5 * embRng.normal()));
  }
  const t0 = 1_700_000_000;
  for (let u = 0; u < nu; u++) {
    const r = b.users.row(`u${u}`);
    const g = u % nc;
    b.users.set(r, 'country', `c${g}`);
    b.users.set(r, 'age', 20 + (u % 40));
    const seen = new Set<number>();
    for (let e = 0; e < per; e++) {
      let item: number;
      do {
        // popular items first within the genre: a Zipf-ish pick among its members
        const inGenre = rng.next() < 0.9;
        const k = Math.floor(Math.pow(rng.next(), 2) * Math.floor(ni / nc));
        item = inGenre ? g + nc * k : rng.int(ni);
      } while (seen.has(item) && seen.size < ni);
      seen.add(item);
      b.addInteraction(r, b.items.row(`i${item}`), rng.next() < 0.2 ? 1 : 0, 1, t0 + u * 1000 + e * 60);
    }
  }
  return b.build();
}
