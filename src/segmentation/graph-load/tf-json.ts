/** The TF.js graph-model format (model.json) as far as the loader reads it, and the loader's one error. */

export interface TfAttr {
  readonly s?: string;
  readonly i?: string;
  readonly f?: number;
  readonly b?: boolean;
  readonly list?: { readonly i?: string[] };
  readonly shape?: { readonly dim?: Array<{ readonly size: string }> };
}
export interface TfNode {
  readonly name: string;
  readonly op: string;
  readonly input?: string[];
  readonly attr?: Record<string, TfAttr>;
}
export interface TfWeight {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: string;
  readonly quantization?: { readonly dtype: string; readonly scale?: number; readonly min?: number };
}
export interface TfGraphModelJson {
  readonly format?: string;
  readonly modelTopology: { readonly node: TfNode[] };
  readonly weightsManifest: Array<{ readonly paths: string[]; readonly weights: TfWeight[] }>;
  readonly signature?: { readonly outputs?: Record<string, { readonly name: string }> };
}

/** A model this loader cannot read exactly: a node type, attribute or shape it does not know, named. */
export class GraphModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphModelError';
  }
}
