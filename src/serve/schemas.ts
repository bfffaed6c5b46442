/**
 * Request and response schemas of every route (JSON Schema, as fastify validates and serialises
 * them), and the OpenAPI 3 document made from the same definitions.
 */

export type JsonSchema = Record<string, unknown>;

export interface RouteSchema {
  summary: string;
  tags?: string[];
  /** True for write and admin routes: the API key is required when one is configured. */
  auth?: boolean;
  /** The body may be left out (no body, or an empty one): it then counts as `{}`. */
  optionalBody?: boolean;
  params?: JsonSchema;
  querystring?: JsonSchema;
  body?: JsonSchema;
  response: Record<number, JsonSchema>;
}

import { MAX_TIMESTAMP } from '../data/index.ts';

export const MAX_K = 100;
export const MAX_BATCH = 10_000;

const id = { type: 'string', minLength: 1, maxLength: 256 };
const idParam = { type: 'object', additionalProperties: false, required: ['id'], properties: { id } };
const k = { type: 'integer', minimum: 1, maximum: MAX_K, default: 10, description: `number of items, 1 to ${MAX_K}` };
const category = { type: 'string', minLength: 1, maxLength: 256, description: "only items whose category feature has this value" };

export const errorSchema: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
    },
  },
};

const reasons: JsonSchema = {
  type: 'object',
  description: 'the explanation as data',
  required: ['foundBy', 'rankedUpBy', 'adjustments', 'fallback'],
  properties: {
    foundBy: { type: 'array', description: 'the sources that retrieved it, with their 1-based ranks, best first', items: { type: 'object', required: ['source', 'rank'], properties: { source: { type: 'string' }, rank: { type: 'integer' } } } },
    rankedUpBy: { type: 'array', description: "the ranker features that raised its score most, with their contribution to the model's output", items: { type: 'object', required: ['feature', 'contribution'], properties: { feature: { type: 'string' }, contribution: { type: 'number' } } } },
    adjustments: { type: 'array', description: 'business rules that multiplied its score (boosts, the value blend)', items: { type: 'object', required: ['rule', 'factor'], properties: { rule: { type: 'string' }, factor: { type: 'number' } } } },
    fallback: { type: ['string', 'null'], description: 'why a fallback stage supplied it, or null' },
  },
};

const recommendation: JsonSchema = {
  type: 'object',
  required: ['id', 'score', 'source', 'explanation', 'reasons'],
  properties: {
    id: { type: 'string' },
    score: { type: 'number' },
    source: { type: 'string', description: 'the candidate source that ranked it best, or the fallback that supplied it' },
    explanation: { type: 'string', description: 'the reasons as one sentence' },
    reasons,
  },
};

/** What a response of a user in a running experiment adds (docs/experiments.md). */
const experimentFields = {
  experiment: { type: 'string', description: 'the experiment the user is in (only while one runs)' },
  arm: { type: 'string', description: "the user's arm" },
  exposureId: { type: 'string', description: 'the logged exposure: name it in events about these items (POST /v1/events exposureId); absent when no item was found (nothing shown, nothing logged)' },
};

const experimentName = { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 64 } } };
const experimentListing: JsonSchema = { type: 'object', additionalProperties: true, required: ['name', 'status', 'arms'], properties: { name: { type: 'string' }, status: { type: 'string', enum: ['scheduled', 'running', 'stopped'] } } };

function recommendations(about: 'user' | 'item' | null): JsonSchema {
  return {
    type: 'object',
    // fast-json-stringify writes required properties first: the subject leads the answer
    required: [...(about ? [about] : []), 'modelVersion', 'strategy', 'items'],
    properties: {
      ...(about ? { [about]: { type: 'string' } } : {}),
      modelVersion: { type: 'string' },
      strategy: { type: 'string', enum: ['personal', 'features', 'popularity', 'similar', 'content'], description: 'how the items were found; features and popularity are the fallbacks for users without usable history' },
      items: { type: 'array', items: recommendation },
      ...(about === 'user' ? experimentFields : {}),
    },
  };
}

/** A feature value: a category or text, a number, a list of tags, or a vector. */
const featureValue = { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'array', items: { type: 'string' } }, { type: 'array', items: { type: 'number' } }, { type: 'null' }] };
const features = { type: 'object', additionalProperties: featureValue, maxProperties: 256, description: 'feature name to value, as the schema of the model declares them' };

const readiness: JsonSchema = {
  type: 'object',
  required: ['ready'],
  properties: {
    ready: { type: 'boolean' },
    modelVersion: { type: 'string' },
    items: { type: 'integer' },
    degraded: { type: 'array', items: { type: 'string' }, description: 'stages that failed in the last minute (requests were answered by the others)' },
    reason: { type: 'string', description: 'why the model cannot answer (when ready is false)' },
  },
};

export const ROUTES: Record<string, RouteSchema> = {
  'GET /v1/users/:id/recommendations': {
    summary: 'Recommendations for a user, known or not (unknown users fall back to features, then popularity)',
    tags: ['recommend'],
    params: idParam,
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { k, exclude: { type: 'string', maxLength: 65536, description: 'comma-separated item ids never to return' }, category },
    },
    response: { 200: recommendations('user') },
  },
  'POST /v1/recommendations': {
    summary: 'Recommendations for an anonymous or new user from features and recent items',
    tags: ['recommend'],
    body: {
      type: 'object',
      additionalProperties: false,
      properties: {
        features,
        recent: { type: 'array', maxItems: 1000, items: id, description: 'item ids the user interacted with, oldest first' },
        k,
        exclude: { type: 'array', maxItems: 10000, items: id },
        category,
      },
    },
    response: { 200: recommendations(null) },
  },
  'GET /v1/items/:id/similar': {
    summary: 'Items similar to an item',
    tags: ['recommend'],
    params: idParam,
    querystring: { type: 'object', additionalProperties: false, properties: { k, category } },
    response: { 200: recommendations('item') },
  },
  'POST /v1/events': {
    summary: 'A batch of interactions, stored durably before the reply and applied at once',
    tags: ['write'],
    auth: true,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['events'],
      properties: {
        events: {
          type: 'array',
          minItems: 1,
          maxItems: MAX_BATCH,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['user', 'item'],
            properties: {
              user: id,
              item: id,
              type: { type: 'string', minLength: 1, maxLength: 64, description: "an event type of the model's schema (default: its first)" },
              timestamp: { type: 'number', minimum: 0, exclusiveMaximum: MAX_TIMESTAMP, description: 'seconds since the epoch, before 2100 (default: now): the data loader\'s rule' },
              value: { type: 'number', description: 'weight, rating or price paid (default 1)' },
              exposureId: { type: 'string', minLength: 1, maxLength: 256, description: 'the exposure (a recommendation response\'s exposureId) this event answers; without it the event counts for the user\'s latest exposure of the item within the experiment\'s attribution window' },
            },
          },
        },
      },
    },
    response: { 200: { type: 'object', required: ['stored'], properties: { stored: { type: 'integer' }, modelVersion: { type: 'string' } } } },
  },
  'PUT /v1/items/:id': {
    summary: 'Add an item or replace its features; it is recommendable at once',
    tags: ['write'],
    auth: true,
    params: idParam,
    body: { type: 'object', additionalProperties: false, required: ['features'], properties: { features } },
    response: { 200: { type: 'object', required: ['id', 'created'], properties: { id: { type: 'string' }, created: { type: 'boolean' } } } },
  },
  'DELETE /v1/items/:id': {
    summary: 'Remove an item from every answer at once',
    tags: ['write'],
    auth: true,
    params: idParam,
    response: { 200: { type: 'object', required: ['id', 'deleted'], properties: { id: { type: 'string' }, deleted: { type: 'boolean' } } } },
  },
  'PUT /v1/users/:id': {
    summary: "Set a user's features",
    tags: ['write'],
    auth: true,
    params: idParam,
    body: { type: 'object', additionalProperties: false, required: ['features'], properties: { features } },
    response: { 200: { type: 'object', required: ['id', 'created'], properties: { id: { type: 'string' }, created: { type: 'boolean' } } } },
  },
  'POST /v1/admin/reload': {
    summary: 'Load a model directory (default, also with no body: the configured one, again) and swap to it atomically; a broken one is refused',
    tags: ['admin'],
    auth: true,
    optionalBody: true,
    body: { type: 'object', additionalProperties: false, properties: { model: { type: 'string', minLength: 1, maxLength: 4096, description: 'path of the model directory on the server' } } },
    response: {
      200: { type: 'object', required: ['modelVersion', 'previousVersion', 'model'], properties: { modelVersion: { type: 'string' }, previousVersion: { type: 'string' }, model: { type: 'string' }, replayed: { type: 'integer' } } },
    },
  },
  'GET /v1/experiments': {
    summary: 'The experiments (scheduled, running, stopped) with their arms, and the memory of the models loaded for them',
    tags: ['experiments'],
    response: { 200: { type: 'object', required: ['experiments'], properties: { experiments: { type: 'array', items: experimentListing }, models: { type: 'array', items: { type: 'object', additionalProperties: true } } } } },
  },
  'POST /v1/experiments': {
    summary: 'Create an experiment (the definition of docs/experiments.md); its models are loaded before it starts, and the experiments file is written back',
    tags: ['experiments'],
    auth: true,
    body: { type: 'object', description: 'an experiment definition: name, arms [{ name, model | interleave, share }], start, stop, attributionHours, seed (checked by the experiments layer, fields named on error)' },
    response: { 201: experimentListing },
  },
  'POST /v1/experiments/:name/stop': {
    summary: 'Stop assigning users to an experiment now (its exposures stay in the log for the report)',
    tags: ['experiments'],
    auth: true,
    params: experimentName,
    response: { 200: experimentListing },
  },
  'GET /v1/experiments/:name/report': {
    summary: 'The report of an experiment read from the event log: per arm CTR, conversion and value per user with 95% intervals, p-values, interleaving, sample-ratio check',
    tags: ['experiments'],
    params: experimentName,
    response: { 200: { type: 'object', additionalProperties: true } },
  },
  'GET /healthz': {
    summary: 'Liveness: the process answers',
    tags: ['ops'],
    response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string' } } } },
  },
  'GET /readyz': {
    summary: 'Readiness: the loaded model answers (its smoke check passed, and passes again after stages fail); 503 when it cannot',
    tags: ['ops'],
    response: {
      200: readiness,
      503: readiness,
    },
  },
  'GET /metrics': {
    summary: 'Prometheus metrics (text format 0.0.4)',
    tags: ['ops'],
    response: { 200: { type: 'string' } },
  },
  'GET /openapi.json': {
    summary: 'This API as OpenAPI 3',
    tags: ['ops'],
    response: { 200: { type: 'object', additionalProperties: true } },
  },
};

/** The OpenAPI 3.1 document of `routes`. */
export function openApiDocument(routes: Record<string, RouteSchema>, version: string): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, r] of Object.entries(routes)) {
    const [method, url] = key.split(' ');
    const path = url.replace(/:(\w+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', r.params], ['query', r.querystring]] as const) {
      if (!schema) continue;
      const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = (schema.required ?? []) as string[];
      for (const [name, s] of Object.entries(props)) {
        const { description, ...rest } = s;
        parameters.push({ name, in: where, required: where === 'path' || required.includes(name), schema: rest, ...(description ? { description } : {}) });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, s] of Object.entries(r.response)) {
      const type = key === 'GET /metrics' ? 'text/plain' : 'application/json';
      responses[status] = { description: Number(status) < 300 ? 'OK' : status === '503' ? 'not ready' : 'error', content: { [type]: { schema: s } } };
    }
    if (r.body || r.params || r.querystring) responses['400'] = { description: 'invalid request; error.field names the field', content: { 'application/json': { schema: errorSchema } } };
    if (r.auth) responses['401'] = { description: 'API key missing or wrong', content: { 'application/json': { schema: errorSchema } } };
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = {
      summary: r.summary,
      tags: r.tags,
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: !r.optionalBody, content: { 'application/json': { schema: r.body } } } } : {}),
      responses,
      ...(r.auth ? { security: [{ bearer: [] }, { apiKey: [] }] } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tandem recommender API', version },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: { Error: errorSchema },
    },
    paths,
  };
}
