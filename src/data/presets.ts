/**
 * Built-in dataset configs for the MovieLens layouts, so `--dataset movielens-100k --data DIR` works
 * without writing a config file.
 */
import { resolve } from 'node:path';
import type { DatasetConfig } from './config.ts';

/** The 19 genre flags of u.item, in column order (as u.genre lists them). */
export const ML100K_GENRES: readonly string[] = [
  'unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
];

const RATING = [{ name: 'rating', weight: 1, negative: false }];

function movielens100k(dir: string): DatasetConfig {
  return {
    name: 'movielens-100k',
    eventTypes: RATING,
    interactions: {
      path: resolve(dir, 'u.data'),
      separator: '\t',
      quote: false,
      columns: ['user', 'item', 'rating', 'timestamp'],
      user: 'user',
      item: 'item',
      value: 'rating',
      timestamp: 'timestamp',
      timestampFormat: 'unix-seconds',
    },
    users: {
      path: resolve(dir, 'u.user'),
      separator: '|',
      quote: false,
      columns: ['id', 'age', 'gender', 'occupation', 'zip'],
      id: 'id',
      features: [
        { name: 'age', kind: 'numeric' },
        { name: 'gender', kind: 'categorical' },
        { name: 'occupation', kind: 'categorical' },
        // First digit: the US zip region (a few Canadian codes give a letter).
        { name: 'zip', kind: 'categorical', column: 'zip', prefix: 1 },
      ],
    },
    items: {
      path: resolve(dir, 'u.item'),
      separator: '|',
      quote: false,
      encoding: 'latin1',
      columns: ['id', 'title', 'release', 'video', 'url', ...ML100K_GENRES],
      id: 'id',
      features: [
        { name: 'genres', kind: 'multi-categorical', flags: [...ML100K_GENRES] },
        // The title's year is the film's; the release date is sometimes a re-release. Fall back to it.
        { name: 'year', kind: 'numeric', parse: 'year', column: ['title', 'release'] },
        { name: 'title', kind: 'text' },
      ],
    },
  };
}

function movielensLatest(dir: string): DatasetConfig {
  return {
    name: 'movielens-latest',
    eventTypes: RATING,
    interactions: {
      path: resolve(dir, 'ratings.csv'),
      separator: ',',
      user: 'userId',
      item: 'movieId',
      value: 'rating',
      timestamp: 'timestamp',
      timestampFormat: 'unix-seconds',
    },
    items: {
      path: resolve(dir, 'movies.csv'),
      separator: ',',
      id: 'movieId',
      features: [
        { name: 'genres', kind: 'multi-categorical', separator: '|', missing: ['(no genres listed)'] },
        { name: 'year', kind: 'numeric', parse: 'year', column: 'title' },
        { name: 'title', kind: 'text' },
      ],
    },
  };
}

const BUILDERS: Record<string, (dir: string) => DatasetConfig> = {
  'movielens-100k': movielens100k,
  'movielens-latest': movielensLatest,
};

/** Names `resolvePreset` accepts. */
export const PRESETS: readonly string[] = Object.keys(BUILDERS);

/**
 * The config of a built-in dataset layout, with its files in `dataDir`.
 * @example const { dataset } = await loadDataset(resolvePreset('movielens-100k', '../shared/datasets/ml-100k'));
 */
export function resolvePreset(name: string, dataDir: string): DatasetConfig {
  const make = BUILDERS[name];
  if (!make) throw new Error(`unknown dataset preset '${name}'; expected one of ${PRESETS.join(', ')}`);
  return make(dataDir);
}
