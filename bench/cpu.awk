# bench/cpu.awk - one line naming the CPU the benchmarks ran on, from
# /proc/cpuinfo: model name, family/model (AMD family 25 is Zen 3 or 4,
# 26 is Zen 5), cores, and the instruction sets mmib dispatches on.
/^model name/ && !name { sub(/^[^:]*: */, ""); name = $0 }
/^cpu family/ && fam == "" { sub(/^[^:]*: */, ""); fam = $0 }
/^model[ \t]*:/ && mod == "" { sub(/^[^:]*: */, ""); mod = $0 }
/^processor/ { n++ }
/^flags/ && !fl { fl = " " $0 " " }
END {
	split("avx2 fma avx512f avx512bw avx512vl avx512_bf16 amx_tile amx_bf16", want, " ")
	isa = ""
	for (i = 1; i in want; i++)
		if (index(fl, " " want[i] " ")) isa = isa " " want[i]
	printf "cpu: %s (family %s, model %s), %d logical cpus; isa:%s\n", name, fam, mod, n, isa
}
