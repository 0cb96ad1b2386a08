using System;
using System.IO;
using System.Linq;
using System.Threading;
using LayerCompiler.Runtime.InputNetworks;
using LayerCompiler.Runtime.IO;
using LayerCompiler.Tasks.Zoo;
using LayerCompiler.TestSupport;
using Xunit;

namespace LayerCompiler.Ilgpu.Tests;

// A small sine SIREN (1 → 8 → 8 → 1) for zoo builds on ILGPU's CPU accelerator.
[InputNetwork(Activation = InputActivation.Sine, Omega0 = 30f)]
[Dense(1, 8)]
[Dense(8, 8)]
[Dense(8, 1)]
public partial class SmallSineSiren { }

/// <summary>
/// A zoo built with <see cref="IlgpuInrFitter"/> (ZooBuildOptions.Fitter) is the zoo the CPU builds: same manifest
/// identity, same shard files, tensors and metadata (weights ≤ 1e-4 relative, the same steps), the device recorded in
/// every shard and in the split statistics; resuming keeps finished shards, and a shard refitted on the CPU records both.
/// </summary>
public class InrZooFitTests
{
    private sealed class IlgpuFitter(IlgpuInrFitter fitter) : IZooFitter
    {
        public string Device => "ilgpu " + fitter.Device.Description;
        public InrFitResult[] FitMany(float[] parameters, float[] targets, int count, Action<int, InrFitResult>? onFitted, CancellationToken cancellation) =>
            fitter.FitMany(parameters, targets, count, onFitted, cancellation);
        public void Dispose() => fitter.Dispose();
    }

    private static ZooFitterFactory OnDevice => (network, points, pointCount, settings) =>
    {
        var f = new IlgpuInrFitter(SmallSineSiren.IlgpuNetwork.Create(TestDevice.Shared), points, pointCount, settings, ownsNetwork: true);
        f.CheckMatches(network);
        return new IlgpuFitter(f);
    };

    private static ZooBuildResult Build(string dir, ZooFitterFactory? fitter)
    {
        var task = new SineWaveInrTask(5, 3, 1, 1, pointCount: 16);
        var net = new MlpInputNetwork(SmallSineSiren.CreateWeightSpace(Symmetry.HiddenNeuron), InputActivation.Sine, 30f, 0f);
        return new ZooBuilder(task, net, new ZooBuildOptions
        {
            Directory = dir, Seed = 1, ShardSize = 2, MaxThreads = 1, Fitter = fitter,
            Fit = InrFitProtocols.SineWaves with { MaxSteps = 4 },
        }).Build();
    }

    [Fact]
    public void ZooFittedOnTheDeviceIsTheCpuZooAndRecordsTheDevice()
    {
        using var tmp = new TempDirectory();
        string cpuDir = Path.Combine(tmp.Path, "cpu"), devDir = Path.Combine(tmp.Path, "ilgpu");
        var cpu = Build(cpuDir, null);
        var dev = Build(devDir, OnDevice);
        Assert.Equal(cpu.Manifest.Identity, dev.Manifest.Identity);
        Assert.Equal(cpu.FittedShards, dev.FittedShards);
        Assert.Equal(cpu.TotalSteps, dev.TotalSteps);
        string device = "ilgpu " + TestDevice.Shared.Description;
        foreach (var split in cpu.Manifest.Splits)
        {
            var other = dev.Manifest.Split(split.Name);
            Assert.Equal(split.Shards, other.Shards);
            Assert.Equal("cpu", split.Stats!.Device);
            Assert.Equal(device, other.Stats!.Device);
            foreach (var sh in split.Shards)
            {
                var a = SafetensorsFile.Read(Path.Combine(cpuDir, sh.File));
                var b = SafetensorsFile.Read(Path.Combine(devDir, sh.File));
                Assert.Equal(a.Names.OrderBy(n => n), b.Names.OrderBy(n => n));
                foreach (var name in a.Names)
                {
                    var ea = a.GetEntry(name);
                    Assert.Equal(ea.Shape, b.GetEntry(name).Shape);
                    if (ea.DType == SafetensorsDType.I64) Assert.Equal(a.GetInt64(name), b.GetInt64(name));
                    else
                    {
                        double err = TestUtil.RelativeError(b.GetFloat32(name).Data, a.GetFloat32(name).Data);
                        Assert.True(err <= 1e-4, $"{sh.File}: '{name}' differs by {err:E2} relative");
                    }
                }
                Assert.Equal(a.Metadata.Where(kv => !kv.Key.StartsWith("stat.", StringComparison.Ordinal)), b.Metadata.Where(kv => !kv.Key.StartsWith("stat.", StringComparison.Ordinal)));
                Assert.Equal("cpu", a.Metadata[ZooFormat.FitDeviceKey]);
                Assert.Equal(device, b.Metadata[ZooFormat.FitDeviceKey]);
            }
        }
        // The manifest on disk says the same.
        Assert.Equal(device, ZooManifest.Load(Path.Combine(devDir, ZooFormat.ManifestFile)).Splits[0].Stats!.Device);

        // Resuming on the device keeps every shard; a shard refitted on the CPU makes the split record both devices.
        var again = Build(devDir, OnDevice);
        Assert.Equal(0, again.FittedShards);
        string first = dev.Manifest.Splits[0].Shards[0].File;
        File.Delete(Path.Combine(devDir, first));
        var mixed = Build(devDir, null);
        Assert.Equal(1, mixed.FittedShards);
        Assert.Equal(string.Join(" + ", new[] { "cpu", device }.OrderBy(d => d, StringComparer.Ordinal)), mixed.Manifest.Splits[0].Stats!.Device);
    }
}
