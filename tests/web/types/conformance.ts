// The Web SDK's modules implement their declarations: every value ilvb.d.ts declares exists in
// a module under ilvb/web/static/ilvb/ with a type assignable to the declared one. Checked by
// `tsc -p tsconfig.json` (tests/web/test_types.py); nothing here runs.
//
// `../ilvb.js` resolves to ilvb.d.ts (a declaration file beside a script wins), so the modules
// are imported one by one; tests/web/test_types.py checks that the entry point ilvb.js exports
// exactly the names ilvb.d.ts declares.

import type * as Api from "../../../ilvb/web/static/ilvb.js";
import * as client from "../../../ilvb/web/static/ilvb/client.js";
import * as connection from "../../../ilvb/web/static/ilvb/connection.js";
import * as devices from "../../../ilvb/web/static/ilvb/devices.js";
import * as errors from "../../../ilvb/web/static/ilvb/errors.js";
import * as events from "../../../ilvb/web/static/ilvb/events.js";
import * as logs from "../../../ilvb/web/static/ilvb/logs.js";
import * as processing from "../../../ilvb/web/static/ilvb/processing.js";
import * as remote from "../../../ilvb/web/static/ilvb/remote.js";
import * as screen from "../../../ilvb/web/static/ilvb/screen.js";
import * as sources from "../../../ilvb/web/static/ilvb/sources.js";

type Modules = typeof client & typeof connection & typeof devices & typeof errors &
  typeof events & typeof logs & typeof processing & typeof remote & typeof screen & typeof sources;
type Declared = typeof Api;

/** Compiles only when `Impl` is assignable to `Decl`. */
type Implements<Impl extends Decl, Decl> = [Impl, Decl];

/** Compiles only when A and B are the same set of strings. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;

// Every declared value is implemented (Pick fails on a missing name) with a compatible type.
export type ValuesImplemented = Implements<Pick<Modules, keyof Declared>, Declared>;

// The declared client-side codes are exactly the keys of the one table in errors.js.
export const clientCodes: Same<keyof typeof errors.CLIENT_ERROR_CODES, Api.ClientErrorCode> = true;

/** The public (not `_`-prefixed) instance members of `Impl` that `Decl` does not declare. */
type Undeclared<Impl, Decl> = Exclude<keyof Impl, keyof Decl | `_${string}`>;

/** Compiles only for `never`: names what is undeclared in the error message. */
type NoneOf<T extends never> = T;

// Every public member of each class is declared too (an undeclared one is an API without types).
export type MembersDeclared = [
  NoneOf<Undeclared<client.Client, Api.Client>>,
  NoneOf<Undeclared<connection.Signaling, Api.Signaling>>,
  NoneOf<Undeclared<devices.Devices, Api.Devices>>,
  NoneOf<Undeclared<errors.IlvbError, Api.IlvbError>>,
  NoneOf<Undeclared<events.Emitter, Api.Emitter>>,
  NoneOf<Undeclared<logs.SdkLogs, Api.SdkLogs>>,
  NoneOf<Undeclared<processing.ProcessedVideo, Api.ProcessedVideo>>,
  NoneOf<Undeclared<remote.RemoteVideo, Api.RemoteVideo>>,
  NoneOf<Undeclared<sources.ExternalAudio, Api.ExternalAudio>>,
  NoneOf<Undeclared<sources.Accompaniment, Api.Accompaniment>>,
];
