// Schema drift check without `prisma migrate`: the expected shape of the database is read from
// schema.prisma by Prisma's own parser (the prisma-schema wasm build, byte-identical to the one the
// installed prisma CLI ships), the actual shape from pg_catalog, and the two are diffed into one
// plain sentence per difference. Names follow Prisma's PostgreSQL conventions (default types, the
// `{table}_{columns}_{key|idx}` index names, onDelete Restrict/SetNull and onUpdate Cascade).
import { get_dmmf } from '@prisma/prisma-schema-wasm'
import type { ClientBase } from 'pg'

export interface ColumnShape { type: string; nullable: boolean; default: string | null }
export interface IndexShape { unique: boolean; columns: string[]; method: string }
export interface ForeignKeyShape { refTable: string; refColumns: string[]; onDelete: string; onUpdate: string }
export interface TableShape {
  columns: Map<string, ColumnShape>
  primaryKey: { name: string; columns: string[] } | null
  /** by index name, the primary key's index excluded */
  indexes: Map<string, IndexShape>
  /** by the referencing columns joined with ", ": DMMF does not expose a relation's `map:` name */
  foreignKeys: Map<string, ForeignKeyShape>
}
export interface DbShape { tables: Map<string, TableShape>; enums: Map<string, string[]> }

/** Tables the database may hold that no model describes. */
export const BOOKKEEPING_TABLES = new Set(['_mvm_migrations'])

// --- the expected shape, from the DMMF -------------------------------------------------------

interface DmmfField {
  name: string; dbName?: string | null; kind: 'scalar' | 'enum' | 'object' | 'unsupported'
  type: string; isList: boolean; isRequired: boolean; isId: boolean; isUpdatedAt: boolean
  nativeType?: [string, string[]] | null
  default?: { name: string; args: unknown[] } | string | number | boolean | unknown[]
  relationFromFields?: string[]; relationToFields?: string[]
  relationOnDelete?: string | null; relationOnUpdate?: string | null
}
interface DmmfModel {
  name: string; dbName: string | null; schema: string | null; fields: DmmfField[]
  primaryKey: { name: string | null; fields: string[] } | null
}
interface DmmfEnum { name: string; dbName?: string | null; values: { name: string; dbName?: string | null }[] }
interface DmmfIndex {
  model: string; type: 'id' | 'unique' | 'normal' | 'fulltext'; dbName?: string | null
  algorithm?: string; fields: { name: string; sortOrder?: 'asc' | 'desc' }[]
}
export interface Datamodel { models: DmmfModel[]; enums: DmmfEnum[]; indexes: DmmfIndex[] }

/** Parses schema.prisma with Prisma's parser; a schema Prisma rejects throws its own message. */
export function parseDatamodel(prismaSchema: string): Datamodel {
  let out: string
  try {
    out = get_dmmf(JSON.stringify({ prismaSchema }))
  } catch (err) {
    const raw = (err as Error).message
    let message = raw
    try { message = (JSON.parse(raw) as { message: string }).message } catch { /* not JSON */ }
    throw new Error(`schema.prisma does not parse:\n${message.replace(/\x1b\[[0-9;]*m/g, '')}`)
  }
  return (JSON.parse(out) as { datamodel: Datamodel }).datamodel
}

const PG_IDENTIFIER_LIMIT = 63

/** Prisma's default constraint name: `{table}_{columns}{suffix}`, truncated before the suffix. */
function defaultName(table: string, columns: string[], suffix: string): string {
  let name = [table, ...columns].join('_')
  if (name.length >= PG_IDENTIFIER_LIMIT - suffix.length) name = name.slice(0, PG_IDENTIFIER_LIMIT - suffix.length)
  return name + suffix
}

/** An identifier as format_type prints it: quoted unless it is a plain lower-case name. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`
}

const SCALAR_TYPES: Record<string, string> = {
  String: 'text', Boolean: 'boolean', Int: 'integer', BigInt: 'bigint', Float: 'double precision',
  Decimal: 'numeric(65,30)', DateTime: 'timestamp(3) without time zone', Json: 'jsonb', Bytes: 'bytea',
}

/** `@db.X(args)` as PostgreSQL's format_type() prints the column type. */
function nativeType(name: string, args: string[]): string {
  const p = args.length ? `(${args.join(',')})` : ''
  const simple: Record<string, string> = {
    Text: 'text', Uuid: 'uuid', Xml: 'xml', Inet: 'inet', Citext: 'citext', Boolean: 'boolean',
    Integer: 'integer', SmallInt: 'smallint', Oid: 'oid', BigInt: 'bigint', DoublePrecision: 'double precision',
    Real: 'real', Money: 'money', Date: 'date', Json: 'json', JsonB: 'jsonb', ByteA: 'bytea',
  }
  if (simple[name] !== undefined && args.length === 0) return simple[name]
  switch (name) {
    case 'VarChar': return `character varying${p}`
    case 'Char': return `character${p}`
    case 'Bit': return `bit${p}`
    case 'VarBit': return `bit varying${p}`
    case 'Decimal': return `numeric${p}`
    case 'Timestamp': return `timestamp${p} without time zone`
    case 'Timestamptz': return `timestamp${p} with time zone`
    case 'Time': return `time${p} without time zone`
    case 'Timetz': return `time${p} with time zone`
  }
  throw new Error(`test/support/schema.ts does not know the PostgreSQL type of @db.${name}${p}: add it`)
}

const SERIAL_TYPES = new Set(['integer', 'bigint', 'smallint'])
const NUMERIC_TYPES = new Set([...SERIAL_TYPES, 'real', 'double precision', 'money'])
const isNumeric = (type: string) => NUMERIC_TYPES.has(type) || type.startsWith('numeric')

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`

/**
 * A column default in one comparable spelling: `now()`, `autoincrement()`, a quoted literal without
 * its cast, a bare number or boolean, or the expression as PostgreSQL prints it.
 */
export function normalizeDefault(expr: string, type: string): string {
  let e = expr.trim()
  if (/^(CURRENT_TIMESTAMP|now\(\))$/i.test(e)) return 'now()'
  // a literal under casts and parentheses, as PostgreSQL prints it back: 'x'::character varying,
  // '-1'::integer, ('x'::text)::character varying, 'invited'::"UserStatus"
  const literal = /^\(*('(?:[^']|'')*'|-?\d+(?:\.\d+)?)(?:\)*::(?:"[^"]+"|[a-z_][a-z0-9_ ]*)(?:\([0-9, ]+\))?(?:\[\])?)*\)*$/i.exec(e)
  if (literal !== null) e = literal[1]!
  const quoted = /^'(.*)'$/s.exec(e)
  if (quoted !== null && (isNumeric(type) || type === 'boolean')) return quoted[1]!
  return e
}

function expectedDefault(field: DmmfField, column: ColumnShape, enums: Map<string, DmmfEnum>): string | null {
  const d = field.default
  if (d === undefined || field.isUpdatedAt) return null
  if (typeof d === 'object' && d !== null && !Array.isArray(d)) {
    switch (d.name) {
      case 'autoincrement': return 'autoincrement()'
      case 'now': return 'now()'
      case 'dbgenerated': return typeof d.args[0] === 'string' ? normalizeDefault(d.args[0], column.type) : '<any>'
      case 'uuid': case 'cuid': case 'nanoid': case 'ulid': return null // filled in by Prisma Client
      default: return `${d.name}(${d.args.map(String).join(', ')})`
    }
  }
  if (field.kind === 'enum' && typeof d === 'string') {
    const value = enums.get(field.type)?.values.find((v) => v.name === d)
    return quote(value?.dbName ?? d)
  }
  if (typeof d === 'string') return quote(d)
  if (typeof d === 'number' || typeof d === 'boolean') return String(d)
  return JSON.stringify(d)
}

const REFERENTIAL_ACTIONS = new Set(['Cascade', 'Restrict', 'NoAction', 'SetNull', 'SetDefault'])

export function expectedShape(dm: Datamodel): DbShape {
  const models = new Map(dm.models.map((m) => [m.name, m]))
  const enums = new Map(dm.enums.map((e) => [e.name, e]))
  const tableOf = (m: DmmfModel) => m.dbName ?? m.name
  const columnOf = (m: DmmfModel, field: string) => {
    const f = m.fields.find((x) => x.name === field)
    if (f === undefined) throw new Error(`model ${m.name} has no field ${field}`)
    return f.dbName ?? f.name
  }
  const shape: DbShape = {
    tables: new Map(),
    enums: new Map(dm.enums.map((e) => [e.dbName ?? e.name, e.values.map((v) => v.dbName ?? v.name)])),
  }
  for (const m of dm.models) {
    if (m.schema !== null) throw new Error(`model ${m.name}: multiSchema is not supported by this check`)
    const table = tableOf(m)
    const t: TableShape = { columns: new Map(), primaryKey: null, indexes: new Map(), foreignKeys: new Map() }
    for (const f of m.fields) {
      if (f.kind === 'object') continue
      if (f.kind === 'unsupported') throw new Error(`${m.name}.${f.name}: Unsupported(...) fields are not checked`)
      const base = f.kind === 'enum'
        ? ident(enums.get(f.type)?.dbName ?? f.type)
        : f.nativeType ? nativeType(f.nativeType[0], f.nativeType[1]) : SCALAR_TYPES[f.type]
      if (base === undefined) throw new Error(`${m.name}.${f.name}: unknown scalar type ${f.type}`)
      const column: ColumnShape = { type: f.isList ? `${base}[]` : base, nullable: !f.isRequired, default: null }
      column.default = expectedDefault(f, column, enums)
      t.columns.set(f.dbName ?? f.name, column)
    }
    for (const ix of dm.indexes.filter((i) => i.model === m.name)) {
      const columns = ix.fields.map((f) => columnOf(m, f.name) + (f.sortOrder === 'desc' ? ' DESC' : ''))
      if (ix.type === 'id') {
        t.primaryKey = { name: ix.dbName ?? defaultName(table, [], '_pkey'), columns }
      } else if (ix.type === 'unique' || ix.type === 'normal') {
        const plain = ix.fields.map((f) => columnOf(m, f.name))
        const name = ix.dbName ?? defaultName(table, plain, ix.type === 'unique' ? '_key' : '_idx')
        t.indexes.set(name, { unique: ix.type === 'unique', columns, method: (ix.algorithm ?? 'BTree').toLowerCase() })
      } else {
        throw new Error(`${m.name}: ${ix.type} indexes are not supported on PostgreSQL`)
      }
    }
    for (const f of m.fields) {
      if (f.kind !== 'object' || !f.relationFromFields?.length) continue
      const target = models.get(f.type)!
      const from = f.relationFromFields.map((x) => m.fields.find((y) => y.name === x)!)
      const onDelete = f.relationOnDelete ?? (from.every((x) => x.isRequired) ? 'Restrict' : 'SetNull')
      const onUpdate = f.relationOnUpdate ?? 'Cascade'
      for (const a of [onDelete, onUpdate]) if (!REFERENTIAL_ACTIONS.has(a)) throw new Error(`${m.name}.${f.name}: unknown action ${a}`)
      t.foreignKeys.set(from.map((x) => x.dbName ?? x.name).join(', '), {
        refTable: tableOf(target),
        refColumns: (f.relationToFields ?? []).map((x) => columnOf(target, x)),
        onDelete, onUpdate,
      })
    }
    shape.tables.set(table, t)
  }
  return shape
}

// --- the actual shape, from pg_catalog --------------------------------------------------------

const ACTIONS: Record<string, string> = { a: 'NoAction', r: 'Restrict', c: 'Cascade', n: 'SetNull', d: 'SetDefault' }

/** Reads the current schema of the database `db` is connected to (inside its transaction, if any). */
export async function actualShape(db: ClientBase): Promise<DbShape> {
  const shape: DbShape = { tables: new Map(), enums: new Map() }
  const tables = await db.query<{ table: string }>(`
    SELECT c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY 1`)
  for (const { table } of tables.rows) {
    shape.tables.set(table, { columns: new Map(), primaryKey: null, indexes: new Map(), foreignKeys: new Map() })
  }
  const table = (name: string) => shape.tables.get(name)!

  const columns = await db.query<{
    table: string; column: string; type: string; notnull: boolean; def: string | null
    sequence: string | null; identity: string; generated: string
  }>(`
    SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
           a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS def,
           pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) AS sequence,
           a.attidentity AS identity, a.attgenerated AS generated
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname, a.attnum`)
  for (const r of columns.rows) {
    let def: string | null = null
    if (r.identity !== '') def = `GENERATED ${r.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`
    else if (r.generated !== '') def = `GENERATED ALWAYS AS (${r.def}) STORED`
    else if (r.def !== null) {
      const owned = r.sequence !== null && /^nextval\('[^']+'::regclass\)$/.test(r.def) && SERIAL_TYPES.has(r.type)
      def = owned ? 'autoincrement()' : normalizeDefault(r.def, r.type)
    }
    table(r.table).columns.set(r.column, { type: r.type, nullable: !r.notnull, default: def })
  }

  const indexes = await db.query<{
    table: string; name: string; primary: boolean; unique: boolean; method: string
    columns: (string | null)[]; desc: boolean[]; partial: boolean
  }>(`
    SELECT c.relname AS table, i.relname AS name, x.indisprimary AS primary, x.indisunique AS unique,
           am.amname AS method, x.indpred IS NOT NULL AS partial,
           array(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(attnum, ord)
                 LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                 WHERE k.ord <= x.indnkeyatts ORDER BY k.ord) AS columns,
           array(SELECT (o & 1) = 1 FROM unnest(x.indoption::int2[]) WITH ORDINALITY k(o, ord) ORDER BY k.ord) AS desc
    FROM pg_index x
    JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = i.relam
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname, i.relname`)
  for (const r of indexes.rows) {
    const cols = r.columns.map((c, i) => (c ?? '<expression>') + (r.desc[i] ? ' DESC' : ''))
    if (r.partial) cols.push('<WHERE predicate>')
    if (r.primary) table(r.table).primaryKey = { name: r.name, columns: cols }
    else table(r.table).indexes.set(r.name, { unique: r.unique, columns: cols, method: r.method })
  }

  const fks = await db.query<{
    table: string; columns: string[]; ref_table: string; ref_columns: string[]; del: string; upd: string
  }>(`
    SELECT c.relname AS table, f.relname AS ref_table, k.confdeltype AS del, k.confupdtype AS upd,
           array(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.ord) AS columns,
           array(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.ord) AS ref_columns
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class f ON f.oid = k.confrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE k.contype = 'f' AND n.nspname = current_schema() ORDER BY c.relname, k.conname`)
  for (const r of fks.rows) {
    table(r.table).foreignKeys.set(r.columns.join(', '), {
      refTable: r.ref_table, refColumns: r.ref_columns,
      onDelete: ACTIONS[r.del] ?? r.del, onUpdate: ACTIONS[r.upd] ?? r.upd,
    })
  }

  const enums = await db.query<{ name: string; values: string[] }>(`
    SELECT format_type(t.oid, NULL) AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS values
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = current_schema() GROUP BY t.oid ORDER BY 1`)
  for (const r of enums.rows) shape.enums.set(r.name, r.values)
  return shape
}

// --- the difference ---------------------------------------------------------------------------

const list = (xs: string[]) => `(${xs.join(', ')})`
const show = (d: string | null) => d ?? 'none'

/** Every way `actual` differs from `expected`, one sentence each; empty when they match. */
export function diffShapes(expected: DbShape, actual: DbShape): string[] {
  const out: string[] = []
  for (const [name, exp] of expected.tables) {
    const act = actual.tables.get(name)
    if (act === undefined) { out.push(`missing table ${name}`); continue }
    for (const [col, e] of exp.columns) {
      const a = act.columns.get(col)
      if (a === undefined) { out.push(`${name}: missing column ${col} ${e.type}`); continue }
      if (a.type !== e.type) out.push(`${name}.${col}: type is ${a.type}, expected ${e.type}`)
      if (a.nullable !== e.nullable) out.push(`${name}.${col}: is ${a.nullable ? 'nullable' : 'NOT NULL'}, expected ${e.nullable ? 'nullable' : 'NOT NULL'}`)
      if (e.default !== '<any>' && a.default !== e.default) out.push(`${name}.${col}: default is ${show(a.default)}, expected ${show(e.default)}`)
    }
    for (const [col, a] of act.columns) if (!exp.columns.has(col)) out.push(`${name}: unexpected column ${col} ${a.type}`)

    const ep = exp.primaryKey, ap = act.primaryKey
    if (ep === null && ap !== null) out.push(`${name}: unexpected primary key ${ap.name} ${list(ap.columns)}`)
    else if (ep !== null && ap === null) out.push(`${name}: missing primary key ${ep.name} ${list(ep.columns)}`)
    else if (ep !== null && ap !== null && (ep.name !== ap.name || list(ep.columns) !== list(ap.columns))) {
      out.push(`${name}: primary key is ${ap.name} ${list(ap.columns)}, expected ${ep.name} ${list(ep.columns)}`)
    }

    const describe = (n: string, i: IndexShape) =>
      `${i.unique ? 'unique index' : 'index'} ${n} ${list(i.columns)}${i.method === 'btree' ? '' : ` using ${i.method}`}`
    for (const [ix, e] of exp.indexes) {
      const a = act.indexes.get(ix)
      if (a === undefined) out.push(`${name}: missing ${describe(ix, e)}`)
      else if (describe(ix, a) !== describe(ix, e)) out.push(`${name}: ${describe(ix, a)}, expected ${describe(ix, e)}`)
    }
    for (const [ix, a] of act.indexes) if (!exp.indexes.has(ix)) out.push(`${name}: unexpected ${describe(ix, a)}`)

    const fk = (cols: string, f: ForeignKeyShape) =>
      `foreign key ${list([cols])} -> ${f.refTable} ${list(f.refColumns)} ON DELETE ${f.onDelete} ON UPDATE ${f.onUpdate}`
    for (const [cols, e] of exp.foreignKeys) {
      const a = act.foreignKeys.get(cols)
      if (a === undefined) out.push(`${name}: missing ${fk(cols, e)}`)
      else if (fk(cols, a) !== fk(cols, e)) out.push(`${name}: ${fk(cols, a)}, expected ${fk(cols, e)}`)
    }
    for (const [cols, a] of act.foreignKeys) if (!exp.foreignKeys.has(cols)) out.push(`${name}: unexpected ${fk(cols, a)}`)
  }
  for (const name of actual.tables.keys()) {
    if (!expected.tables.has(name) && !BOOKKEEPING_TABLES.has(name)) out.push(`unexpected table ${name}`)
  }

  for (const [name, values] of expected.enums) {
    const a = actual.enums.get(ident(name))
    if (a === undefined) out.push(`missing enum ${name} ${list(values)}`)
    else if (list(a) !== list(values)) out.push(`enum ${name}: values are ${list(a)}, expected ${list(values)}`)
  }
  const expectedEnums = new Set([...expected.enums.keys()].map(ident))
  for (const [name, values] of actual.enums) if (!expectedEnums.has(name)) out.push(`unexpected enum ${name} ${list(values)}`)
  return out
}
