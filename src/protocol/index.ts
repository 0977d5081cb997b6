// Public API of src/protocol: HIP/1 as pure code (docs/protocol-notes.md for the decisions taken
// where the spec is silent). Nothing here does IO; nothing here imports from the rest of Causeway.
export * from './types.ts';
export * from './errors.ts';
export { parseStanza } from './parse.ts';
export type { ParseOptions } from './parse.ts';
export { buildStanza } from './build.ts';
export { parseAddress, formatAddress, userOf, deviceAddress, isAddressOf, USER_KINDS, DEVICE_KINDS, MAX_DEVICE } from './address.ts';
export type { Address, AddressKind } from './address.ts';
export { computeDhash, isValidDhash } from './dhash.ts';
export { isValidId, newId } from './ids.ts';
export { encodeContent, decodeContent, CONTENT_XMLNS, MAX_TEXT_CODE_POINTS, MAX_CONTENT_BYTES } from './content.ts';
export { toBase64, fromBase64 } from './base64.ts';
export { pushSignatureHeader, verifiedPushTime, verifyPushSignature } from './push.ts';
