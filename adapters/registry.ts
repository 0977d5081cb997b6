// Every adapter kind Causeway ships, by its `adapters[].type` name, with the schema that validates
// its `config`. The composition root and the CLI read this list; the core (src/) otherwise depends
// only on adapters/contract.ts. A new adapter kind is added here.
import type { z } from 'zod';
import { webhookConfigSchema } from './webhook/config.ts';

export const adapterConfigSchemas: Record<string, z.ZodType> = {
  webhook: webhookConfigSchema,
};
