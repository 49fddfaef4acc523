/**
 * Contract checks against Nango's own OpenAPI 3.1 spec (test/contract/nango-openapi.yaml, a
 * copy of ../shared/nango/openapi.yaml): does a recorded request match an operation, its parameters, headers and body schema?
 *
 * openapi-backend does the routing and the Ajv validation. Two gaps are handled here:
 * - its definition check knows OpenAPI 3.0 only and rejects this 3.1 file, so it runs in `quick`
 *   mode (no definition check; validators compiled per operation on first use). The schemas of the
 *   routes we call use nothing whose meaning differs between the two JSON Schema drafts.
 * - it keys validators by operationId and Nango's spec has none, so each operation gets
 *   "<METHOD> <path>" as its id before the definition is loaded.
 * On top, three checks the library leaves to a server: the Content-Type is one the operation
 * accepts, a bearer Authorization header is present where the spec requires bearerAuth, and no
 * query parameter the operation does not declare (Nango rejects those: `invalid_query_params`).
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenAPIBackend, type Document, type Operation } from 'openapi-backend';

export interface ContractRequest {
  method: string;
  /** Raw path as sent, percent-encoding kept, without the query string. */
  path: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string | string[] | undefined>;
  body?: unknown;
}

export interface ContractResult {
  valid: boolean;
  errors: string[];
  /** "<METHOD> <path template>" of the matched operation. */
  operation?: string;
}

export interface NangoContract {
  validateRequest(req: ContractRequest): ContractResult;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The vendored copy (a clone works without shared/); test/contract checks it against shared/ when that is present. */
export const NANGO_OPENAPI_PATH = resolve(REPO_ROOT, 'test', 'contract', 'nango-openapi.yaml');
export const SHARED_OPENAPI_PATH = resolve(REPO_ROOT, '..', 'shared', 'nango', 'openapi.yaml');

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

let loading: Promise<NangoContract> | undefined;

/** Loads and prepares the spec once per process. */
export function loadNangoContract(specPath = NANGO_OPENAPI_PATH): Promise<NangoContract> {
  if (specPath !== NANGO_OPENAPI_PATH) return load(specPath);
  loading ??= load(specPath);
  return loading;
}

async function load(specPath: string): Promise<NangoContract> {
  if (!existsSync(specPath)) {
    throw new Error(`Nango OpenAPI spec not found at ${specPath} (copy ../shared/nango/openapi.yaml there)`);
  }
  // openapi-backend's own loader parses the YAML (no YAML dependency of ours).
  const doc = (await new OpenAPIBackend({ definition: specPath, quick: true }).loadDocument()) as Document;
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const m of METHODS) {
      const op = (item as Record<string, { operationId?: string } | undefined>)[m];
      if (op && !op.operationId) op.operationId = `${m.toUpperCase()} ${path}`;
    }
  }
  const api = new OpenAPIBackend({ definition: doc, quick: true, validate: true, strict: false });
  await api.init();

  return {
    validateRequest(req) {
      const method = req.method.toLowerCase();
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = v;
      const query = req.query ?? {};
      const request = { method, path: req.path, query, headers, body: req.body };
      const op = api.matchOperation(request) as Operation | undefined;
      if (!op) return { valid: false, errors: [`no operation in the spec matches ${req.method.toUpperCase()} ${req.path}`] };
      const operation = op.operationId!;
      const errors: string[] = [];

      const result = api.validateRequest(request, op);
      for (const e of result.errors ?? []) {
        // instancePath is /requestBody/..., /header, /query or /path: print it as requestBody.connection_id.
        const where = (e.instancePath || '/request').slice(1).replace(/\//g, '.');
        const params = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : '';
        errors.push(`${where} ${e.message ?? e.keyword}${params}`);
      }

      const requestBody = op.requestBody as { content?: Record<string, unknown> } | undefined;
      if (requestBody?.content && req.body !== undefined) {
        const ct = String(headers['content-type'] ?? '')
          .split(';')[0]!
          .trim()
          .toLowerCase();
        if (!Object.keys(requestBody.content).some((t) => t.toLowerCase() === ct)) {
          errors.push(`content-type "${ct}" is not one of ${Object.keys(requestBody.content).join(', ')}`);
        }
      }

      const security = (op.security ?? api.definition.security ?? []) as Array<Record<string, unknown>>;
      if (security.some((s) => 'bearerAuth' in s)) {
        const auth = headers['authorization'];
        if (typeof auth !== 'string' || !/^Bearer \S+/.test(auth)) errors.push('header authorization must be "Bearer <key>" (bearerAuth)');
      }

      const declared = new Set(
        ((op.parameters ?? []) as Array<{ in?: string; name?: string }>).filter((p) => p.in === 'query').map((p) => p.name),
      );
      for (const name of Object.keys(query))
        if (!declared.has(name)) errors.push(`query parameter "${name}" is not declared by ${operation}`);

      return { valid: errors.length === 0, errors, operation };
    },
  };
}
