#!/bin/sh
# pipelines/row.sh - one summary row (TSV header + values) for one run.
#
#   row.sh [KEY=VALUE ...] PROBE_TSV ALIGN_TSV [TRAIN_LOG_TSV]
#
# KEY=VALUE pairs become the leading parameter columns, in the order given.
# The special key unlearnable=a,b names factors a cheap image encoder is
# known not to learn; a run whose essence lies within them is flagged
# degenerate=1 (nothing learnable to align); essence_learnable counts the
# other essence factors.  The special key model=FILE names the run's model
# (not a column), and depth=model asks for the image encoder's depth from
# it: the metadata key model.image_depth, read with mmib-info ($MMIB_INFO,
# else mmib-info on the PATH).  A model written before that key existed, or
# no model=, falls back to the image_spec column as the pipelines always
# did: N of resnetN, else the number of hidden widths (mlp-flatten:512,256/64
# is 2).  From PROBE_TSV (mmib-probe:
# one row per modality and factor, columns found by their header names) come
# <modality>_<factor>_nmi and _acc, the essence and nuisance groups summed
# as the paper does (MI in nats, H = sum ln K, nMI = MI / H, mean accuracy;
# summed here from the factor rows as printed, not read from mmib-probe's
# group rows: those are sums rounded once to 6 decimals, whose nMI = MI / H
# and %.6g columns differ from these in the last digit for some runs),
# and miss_nmi / miss_acc: the image nMI of the nuisance factor when there
# is exactly one.  ALIGN_TSV (mmib-align: metric, k, value) gives one column
# per metric, k appended (mknn1, mknn5).  The optional training log gives the
# final temperature, loss and the training time; a siglip log (logit_scale
# t' and logit_bias b instead of temperature) gives final_temperature =
# exp(-t'), the inverse of its logit scale (mmib-train(1): a temperature
# sets t' = -ln T), so that it reads as InfoNCE's, and final_logit_bias.
set -eu
model=
for a; do case $a in model=*) model=${a#model=} ;; esac; done
img_depth=
if [ -n "$model" ]; then
	meta=$("${MMIB_INFO:-mmib-info}" -q "$model")
	img_depth=$(printf '%s\n' "$meta" | awk -F '\t' '
		$1 == "meta" && $2 == "model.image_depth" && v == "" { v = $3 }
		END { print v }')
fi
awk -v OFS='\t' -v img_depth="$img_depth" '
function col(name, alt1, alt2,    i) {
	for (i = 1; i <= NF; i++) {
		n = tolower($i)
		if (n == name || n == alt1 || n == alt2)
			return i
	}
	return 0
}
# Depth of an image encoder spec, split as make splits words (the fallback
# for models without model.image_depth): resnetN is N; otherwise the widths
# between the last ":" and the first "/", counted.
function spec_depth(s,    a, n) {
	if (s ~ /^resnet/) return substr(s, 7)
	if (s ~ /^vit/) return match(s, /depth=[0-9]+/) ? substr(s, RSTART + 6, RLENGTH - 6) : "NA"
	gsub(/:/, " ", s); n = split(s, a, " "); s = a[n]
	gsub(/\//, " ", s); split(s, a, " "); s = a[1]
	gsub(/,/, " ", s)
	return split(s, a, " ")
}
function add(k, v) {
	if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
	val[k] = v
}
BEGIN {
	FS = "\t"
	nfile = 0
	for (i = 1; i < ARGC; i++) {
		if (ARGV[i] ~ /^[A-Za-z_][A-Za-z0-9_]*=/) {
			eq = index(ARGV[i], "=")
			k = substr(ARGV[i], 1, eq - 1); v = substr(ARGV[i], eq + 1)
			if (k == "unlearnable") unlearn = v
			else if (k != "model") add(k, v)
			ARGV[i] = ""
		} else
			file[++nfile] = ARGV[i]
	}
	if (nfile < 2) {
		print "usage: row.sh [KEY=VALUE ...] PROBE ALIGN [LOG]" > "/dev/stderr"
		usage = 1; exit 2
	}
	nu = split(unlearn, u, ",")
	for (i = 1; i <= nu; i++) unlearnable[u[i]] = 1
}
FNR == 1 {
	fi = 0
	for (i = 1; i <= nfile; i++) if (FILENAME == file[i]) fi = i
	if (fi == 1) {
		cm = col("modality"); cf = col("factor"); cr = col("role")
		ck = col("lnk", "ln_k", "h"); cK = col("k"); cce = col("ce", "cross_entropy")
		cmi = col("mi"); cn = col("nmi"); ca = col("acc", "accuracy")
		if (!cm || !cf || !cr || !cn)
			bad = FILENAME ": probe table lacks modality/factor/role/nmi columns"
	} else if (fi == 2) {
		cmet = col("metric"); ckk = col("k"); cv = col("value")
		if (!cmet || !cv)
			bad = FILENAME ": alignment table lacks metric/value columns"
	} else if (fi == 3) {
		ct = col("temperature", "temp", "t"); cl = col("loss", "train_loss")
		cls = col("logit_scale"); clb = col("logit_bias")
		cs = col("seconds", "time", "secs"); ce_ = col("epoch")
		ctl = col("test_loss", "test")
	}
	next
}
fi == 1 {
	m = $cm; f = $cf; r = $cr
	if (r != "essence" && r != "nuisance") next    # group or other rows
	if (f == "essence" || f == "nuisance" || f == "all") next
	lnk = ck ? $ck + 0 : (cK ? log($cK) : 0)
	mi = cmi ? $cmi + 0 : (cce ? lnk - $cce : $cn * lnk)
	add(m "_" f "_nmi", $cn)
	if (ca) add(m "_" f "_acc", $ca)
	gmi[m, r] += mi; gh[m, r] += lnk; gn[m, r]++
	if (ca) gacc[m, r] += $ca
	if (!(m in mseen)) { mseen[m] = 1; mods[++nm] = m }
	if (m == mods[1]) {
		if (r == "essence") { ess = ess (ess == "" ? "" : "+") f; ne++
			if (!(f in unlearnable)) learnable++ }
		else { nui = nui (nui == "" ? "" : "+") f; nn++; lastnui = f
			missnmi = $cn; missacc = ca ? $ca : "NA" }
	}
	next
}
fi == 2 {
	k = (ckk && $ckk != "" && $ckk != "0" && $ckk != "-" && $ckk != "NA") ? $ckk : ""
	add($cmet k, $cv)
	next
}
fi == 3 {
	if ($0 ~ /^#/ || $0 == "") next
	if (ct) lastT = $ct
	else if (cls) lastT = sprintf("%.5g", exp(-$cls))    # 6 digits in the log
	if (clb) lastB = $clb
	if (cl) lastL = $cl
	if (ctl) lastTL = $ctl
	if (cs) secs += $cs
	nep++
	next
}
END {
	if (usage) exit 2
	if (bad != "") { print "row.sh: " bad > "/dev/stderr"; exit 1 }
	if (nm == 0) { print "row.sh: " file[1] ": no probe rows" > "/dev/stderr"; exit 1 }
	if (val["depth"] == "model")
		val["depth"] = img_depth != "" ? img_depth : spec_depth(val["image_spec"])
	add("essence", ess); add("nuisance", nui == "" ? "-" : nui)
	add("degenerate", (ne > 0 && !learnable) ? 1 : 0)
	add("essence_learnable", learnable + 0)
	for (j = 1; j <= nm; j++) {
		m = mods[j]
		split("essence nuisance", rr, " ")
		for (q = 1; q <= 2; q++) {
			r = rr[q]; p = m "_" (r == "essence" ? "ess" : "nui")
			if (gn[m, r] > 0) {
				add(p "_mi", sprintf("%.6g", gmi[m, r]))
				add(p "_h", sprintf("%.6g", gh[m, r]))
				add(p "_nmi", sprintf("%.6g", gmi[m, r] / gh[m, r]))
				add(p "_acc", sprintf("%.6g", gacc[m, r] / gn[m, r]))
			} else {
				add(p "_mi", 0); add(p "_h", 0); add(p "_nmi", "NA"); add(p "_acc", "NA")
			}
		}
	}
	add("miss_nmi", nn == 1 ? missnmi : "NA")
	add("miss_acc", nn == 1 ? missacc : "NA")
	if (nfile >= 3) {
		add("final_temperature", lastT == "" ? "NA" : lastT)
		if (clb) add("final_logit_bias", lastB == "" ? "NA" : lastB)
		add("final_loss", lastL == "" ? "NA" : lastL)
		add("final_test_loss", lastTL == "" ? "NA" : lastTL)
		add("train_seconds", secs == "" ? "NA" : sprintf("%.1f", secs))
	}
	line = ""
	for (i = 1; i <= nk; i++) line = line (i > 1 ? OFS : "") keys[i]
	print line
	line = ""
	for (i = 1; i <= nk; i++) line = line (i > 1 ? OFS : "") val[keys[i]]
	print line
}' "$@"
