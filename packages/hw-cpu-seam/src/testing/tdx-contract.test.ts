/** Runs the TDX module ABI contract against this package's TdxModule (with and without modelled CPUs). */
import { makeSimTdxPlatform } from "../tdx/sim-platform";
import { describeTdxContract } from "./tdx-contract";

describeTdxContract("TdxModule", () => makeSimTdxPlatform());
describeTdxContract("TdxModule on a CpuComplex", () => makeSimTdxPlatform({ cpus: true }));
