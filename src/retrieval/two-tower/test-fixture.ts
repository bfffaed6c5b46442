// A small dataset with every feature kind, shared by the two-tower tests (not a public surface).
import { DatasetBuilder, type Dataset } from '../../data/index.ts';
import { Rng } from '../../math/index.ts';

/**
 * `users` users and `items` items with features of every kind; each user interacts with ~`per` items
 * drawn from a taste cluster (user % 4 prefers items % 4), so a model can learn something.
 * Event type 'dislike' is negative feedback.
 */
export function tinyDataset(users = 12, items = 20, per = 6, seed = 1): Dataset {
  const rng = new Rng(seed);
  const b = new DatasetBuilder(
    {
      user: [
        { name: 'gender', kind: 'categorical' },
        { name: 'age', kind: 'numeric' },
        { name: 'zip', kind: 'id', buckets: 4 },
      ],
      item: [
        { name: 'genres', kind: 'multi-categorical' },
        { name: 'year', kind: 'numeric' },
        { name: 'title', kind: 'text', buckets: 8 },
        { name: 'vec', kind: 'vector', dim: 3 },
      ],
      eventTypes: [
        { name: 'view', weight: 1, negative: false },
        { name: 'buy', weight: 3, negative: false },
        { name: 'dislike', weight: 1, negative: true },
      ],
    },
    'tiny',
  );
  for (let i = 0; i < items; i++) {
    const r = b.items.row(`i${i}`);
    b.items.set(r, 'genres', [`g${i % 4}`, `g${(i * 7) % 5}`]);
    if (i % 5 !== 0) b.items.set(r, 'year', 1980 + ((i * 3) % 30));
    b.items.set(r, 'title', `movie number ${i} part ${i % 3}`);
    b.items.set(r, 'vec', [Math.sin(i), Math.cos(i), (i % 4) / 4]);
  }
  for (let u = 0; u < users; u++) {
    const r = b.users.row(`u${u}`);
    b.users.set(r, 'gender', u % 2 ? 'F' : 'M');
    b.users.set(r, 'age', 18 + ((u * 5) % 40));
    b.users.set(r, 'zip', `z${u % 5}`);
  }
  for (let u = 0; u < users; u++) {
    for (let k = 0; k < per; k++) {
      const cluster = rng.next() < 0.8;
      const item = cluster ? ((rng.int(items / 4) * 4 + (u % 4)) % items) : rng.int(items);
      const ev = rng.next() < 0.1 ? 2 : rng.next() < 0.2 ? 1 : 0;
      b.addInteraction(u, item, ev, 1, 1_000_000 + u * 1000 + k * 10);
    }
  }
  return b.build();
}
