// Public surface of the schema layer: one declarative option mechanism (parameters, configs, CLI flags).
export type { ArraySpec, BooleanSpec, CheckOptions, Command, Given, Infer, ListSpec, NumberSpec, ObjectSpec, OptionDefs, OptionSpec, ParamsOf, ParsedOptions, Problem, RecordSpec, Schema, Spec, StringSpec, ValueOf } from './schema.ts';
export { InputError, ParamError, UsageError, check, defaults, describeRange, docsTable, flagName, helpText, keyValues, parseArgs, safeCheck, schema, unknownMessage, withDefaults } from './schema.ts';
