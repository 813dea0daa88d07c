"""The one command to run on a lent GPU machine: is the CUDA path correct, and how fast is it?

    python benchmarks/gpu_check.py [--device cuda|cpu] [--quick] [--ratios 30,58] [--json PATH]

Everything runs the trainer as a sweep's trial does (training.trial.run_trial, with a plain report
function instead of Ray Tune's; the GPU machine has no Ray and this import path loads none), on
posters synthesised as uint8 arrays (device_checks.py):

1. checks (pass/fail): on CUDA, first, that the sweep driver's feature pass (a frozen body over
   the posters, before the trials) leaves torch's reserved GPU memory back at 0 (the CUDA context
   stays); the splits resident on the device as uint8; a trial stopped after a checkpoint and
   resumed on the device ends where the uninterrupted trial did, in eager fp32, bf16 and bf16 +
   torch.compile (to device_checks.TOLERANCE on a GPU, exactly on the CPU); a checkpoint written
   on the GPU resumes on the CPU and the reverse (CUDA only);
2. a training run per ratio in eager fp32, bf16 and bf16 + compile: images/s after the first epoch,
   the first epoch's seconds (compiling, cuDNN's kernel search) and peak memory (GPU memory torch
   allocated; on the CPU the process's peak RSS);
3. 1, 2, 4 and 8 trial processes sharing the device: aggregate images/s (does packing pay?);
4. a trial process killed with SIGKILL mid-trial and resumed from its last checkpoint in a new
   process, against an uninterrupted process: `resume_matches`.

Exit status 1 when a check fails. --device cpu runs the same checks on the CPU (no cross-device
check); --quick a short run (ratio 30, fewer posters). The full run is meant to take under 5
minutes on the H200 machine (16 cores), most of it compiling six ratios; that is an estimate, as
it has never run on a GPU. Each section prints its own seconds; --ratios cuts the throughput runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

# The GPU machine has this project unpacked, not installed: import it from here.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tune_genres.sweep.worker_env import rerun_under_trial_env  # noqa: E402

# Train as a trial's process does: its OpenMP wait policy and malloc settings (sweep/worker_env.py).
if __name__ == "__main__":
    rerun_under_trial_env()

import torch  # noqa: E402

import device_checks as checks  # noqa: E402
from dataset_builder.images import STUDY_RATIOS, size_for_ratio  # noqa: E402
from figures import cpu_name, write_json  # noqa: E402 (this folder is on sys.path)
from tune_genres.training.device import set_threads  # noqa: E402

PACKING = (1, 2, 4, 8)


def machine(device: torch.device) -> dict:
    found = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
             "cpus": len(os.sched_getaffinity(0)), "cpu": cpu_name()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        found.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                     compute_capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                     cudnn=torch.backends.cudnn.version())
    return found


def section(name: str):
    print(f"\n== {name}", file=sys.stderr, flush=True)
    return time.perf_counter()


def run_checks(device: torch.device) -> dict:
    results = {}
    if device.type == "cuda":  # first: in a process that has used no GPU memory yet, the baseline is 0
        results["driver_memory_after_features"] = checks.feature_pass_memory_check(device)
        r = results["driver_memory_after_features"]
        print(f"  driver's reserved GPU memory after a feature pass: {r['reserved_after_mib']:.1f} MiB "
              f"(peak {r['peak_reserved_mib']:.0f} MiB): {'ok' if r['ok'] else 'NOT FREED'}", file=sys.stderr)
    results["resident"] = checks.resident_check(device)
    for mode, settings in checks.MODES.items():
        results[f"resume_{mode}"] = checks.resume_check(device, **settings)
        print(f"  resume {mode}: {'ok' if results[f'resume_{mode}']['matches'] else 'MISMATCH'}", file=sys.stderr)
    if device.type == "cuda":
        results["gpu_to_cpu"] = checks.cross_device_check(device, "cpu")
        results["cpu_to_gpu"] = checks.cross_device_check("cpu", device)
    return results


def passed(result: dict) -> bool:
    return bool(result.get("ok", result.get("matches")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--quick", action="store_true", help="ratio 30 only, fewer posters: a short run")
    parser.add_argument("--ratios", help="study ratios for the throughput runs (default: all six; --quick: 30)")
    parser.add_argument("--images", type=int, help="training posters per throughput run (default: GPU 4096, CPU 256; --quick a quarter)")
    parser.add_argument("--packing", default=",".join(map(str, PACKING)), help="trial processes sharing the device (default 1,2,4,8)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available on this machine (run with --device cpu)")
    ratios = [int(r) for r in args.ratios.split(",")] if args.ratios else [30] if args.quick else list(STUDY_RATIOS)
    bad = [r for r in ratios if r not in STUDY_RATIOS]
    if bad:
        raise SystemExit(f"--ratios {args.ratios}: {bad[0]} is not a study ratio ({', '.join(map(str, STUDY_RATIOS))})")
    count = args.images or (4096 if device.type == "cuda" else 256) // (4 if args.quick else 1)
    packing_counts = [int(n) for n in args.packing.split(",")]
    set_threads(len(os.sched_getaffinity(0)))
    found = machine(device)
    print(f"Checking {found.get('gpu', found['cpu'])} ({device}), torch {torch.__version__}.", file=sys.stderr)
    started = time.perf_counter()
    timings = {}

    t = section("checks: resident data, resume in fp32 / bf16 / bf16+compile, across devices")
    results = run_checks(device)
    timings["checks_s"] = time.perf_counter() - t

    t = section(f"throughput: ratios {', '.join(map(str, ratios))}, {count} posters, modes {', '.join(checks.MODES)}")
    throughput: dict[str, dict] = {}
    for ratio in ratios:
        throughput[str(ratio)] = {"size": list(size_for_ratio(ratio))}
        arrays = checks.throughput_arrays(ratio, count)
        for mode in checks.MODES:
            throughput[str(ratio)][mode] = checks.throughput(device, ratio, arrays, mode)
            print(f"  {ratio}% {mode}: {throughput[str(ratio)][mode]['images_per_s']:.0f} img/s", file=sys.stderr)
    timings["throughput_s"] = time.perf_counter() - t

    t = section(f"packing: {', '.join(map(str, packing_counts))} trial processes at ratio {ratios[0]}")
    packing = {}
    for n in packing_counts:
        packing[str(n)] = checks.packing(device, n, ratios[0], count)
        print(f"  {n}: {packing[str(n)]['aggregate_images_per_s']:.0f} img/s together", file=sys.stderr)
    timings["packing_s"] = time.perf_counter() - t

    t = section("kill and resume: SIGKILL mid-trial, resume from the last checkpoint in a new process")
    results["kill_and_resume"] = checks.kill_and_resume(device)
    timings["kill_and_resume_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - started

    print_tables(found, results, throughput, packing, timings)
    ok = all(passed(r) for r in results.values())
    if args.json:
        write_json(args.json, "gpu_check", device=str(device), machine=found, quick=args.quick, ok=ok,
                   resume_matches=results["kill_and_resume"]["matches"],
                   tolerance={"metric_abs": checks.METRIC_TOLERANCE, "loss_rel": checks.LOSS_TOLERANCE,
                              "metrics": list(checks.COMPARED_METRICS), "losses": list(checks.COMPARED_LOSSES),
                              "exact_on_cpu": True},
                   checks=results, ratios=throughput, packing=packing, timings=timings)
    return 0 if ok else 1


def print_tables(found: dict, results: dict, throughput: dict, packing: dict, timings: dict) -> None:
    on = f"{found.get('gpu', found['cpu'])} ({found['device']}), torch {found['torch']}, {found['cpus']} CPUs"
    print(f"\nGPU check on {on}; {timings['total_s']:.0f} s in all.\n")
    print("| check | result | detail |\n|---|---|---|")
    for name, r in results.items():
        if "matches" in r:
            detail = (f"{r['precision']}{' + compile' if r.get('compile') else ''}, " if "precision" in r else "")
            detail += (f"{'exact' if r['exact'] else 'within tolerance'}; max |metric diff| {r['max_metric_diff']:.2g}, "
                       f"max loss rel diff {r['max_loss_rel_diff']:.2g}; epochs whole: {r['epochs_whole']}")
            if "killed_after_epoch" in r:
                detail += (f"; killed (exit {r['victim_exit']}) after epoch {r['killed_after_epoch']}, "
                           f"resumed from epoch {r['resumed_from_epoch']}")
        elif "images" in r:
            detail = f"{r['images']}; trained on {r['trained_on']}"
        elif "reserved_after_mib" in r:
            detail = (f"{r['model']} over {r['posters']} posters at {r['ratio']}% x{r['input_scale']:g} "
                      f"({r['image_array_mib']:.0f} MiB of images): reserved {r['reserved_before_mib']:.1f} MiB before, "
                      f"{r['peak_reserved_mib']:.0f} at the peak, {r['reserved_after_mib']:.1f} after "
                      f"(allocated {r['allocated_after_mib']:.1f}; limit +{checks.FREED_TOLERANCE_MIB:g})")
        else:
            detail = f"{r['from']} -> {r['to']}: weights equal after load: {r['weights_equal_after_load']}"
        print(f"| {name} | {'pass' if passed(r) else 'FAIL'} | {detail} |")

    memory = "peak GPU MiB" if found["device"].startswith("cuda") else "peak RSS MiB"
    print(f"\n| ratio | size | mode | precision | img/s | first epoch s | steady epoch s | {memory} |")
    print("|---:|---:|---|---|---:|---:|---:|---:|")
    for ratio, entry in throughput.items():
        for mode in checks.MODES:
            e = entry[mode]
            peak = e.get("peak_allocated_mib", e.get("peak_rss_mib"))
            print(f"| {ratio} | {entry['size'][0]}x{entry['size'][1]} | {mode} | {e['precision']} | {e['images_per_s']:.0f} | "
                  f"{e['first_epoch_s']:.2f} | {e['steady_epoch_s']:.3f} | {peak:.0f} |")

    one = packing[min(packing, key=int)]["aggregate_images_per_s"] if packing else 0
    each = "peak GPU MiB per process" if found["device"].startswith("cuda") else "peak RSS MiB per process"
    print("\n| trial processes | aggregate img/s | x of 1 process | img/s per process | torch threads each | "
          f"{each} | device used MiB (all processes) |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    for n, p in packing.items():
        per = ", ".join(f"{v:.0f}" for v in p["per_process_images_per_s"])
        used = f"{p['device_used_mib']:.0f}" if found["device"].startswith("cuda") else "-"
        print(f"| {n} | {p['aggregate_images_per_s']:.0f} | {p['aggregate_images_per_s'] / one:.2f} | {per} | "
              f"{p['threads_per_process']} | {p['peak_per_process_mib']:.0f} | {used} |")
    print("\nSeconds: " + ", ".join(f"{k[:-2]} {v:.0f}" for k, v in timings.items()))


if __name__ == "__main__":
    sys.exit(main())
