/**
 * The typed schema of a dataset: which features users and items carry, and which event types
 * interactions can have.
 */

/** How a feature column is read and encoded. */
export type FeatureKind = 'id' | 'categorical' | 'multi-categorical' | 'numeric' | 'text' | 'vector';

export const FEATURE_KINDS: readonly FeatureKind[] = ['id', 'categorical', 'multi-categorical', 'numeric', 'text', 'vector'];

export interface FeatureSpec {
  name: string;
  /** 'id' here means an id-like categorical of high cardinality (a seller, a brand), not the row's own key. */
  kind: FeatureKind;
  /** Vector length, for kind 'vector'. */
  dim?: number;
  /** Hash buckets for values never seen in training (categorical, multi-categorical, text, id). */
  buckets?: number;
}

export interface EventTypeSpec {
  name: string;
  /** How much one such event counts (a purchase more than a view). */
  weight: number;
  /** Negative feedback (dislike, skip): a signal against the item, never a positive. */
  negative: boolean;
}

export interface Schema {
  user: FeatureSpec[];
  item: FeatureSpec[];
  eventTypes: EventTypeSpec[];
}

export const DEFAULT_EVENT: EventTypeSpec = { name: 'interaction', weight: 1, negative: false };

/** Tokeniser for text features: lower-cased runs of letters and digits. */
export function tokenize(text: string): string[] {
  const out = text.toLowerCase().match(/[\p{L}\p{N}]+/gu);
  return out ?? [];
}
