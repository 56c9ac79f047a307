# CPU per event against offered rate, windrow and the bare-Paho floor, from
# the CSV that run_bench.py writes. Called by run_bench.py as
#   gnuplot -e "csv='bench.csv'; png='docs/bench-cpu.png'; sub='what run'" tests/bench/bench_cpu.gp
# Series: JSON payloads, 1,000 keys; one line per subject and QoS. Lines only
# join rows that follow each other in the CSV, so run_bench.py sorts it by
# subject, QoS, keys, records, rate.
set terminal pngcairo size 900,640 font "sans,10"
set output png
set datafile separator ","
set key below horizontal maxcols 2
set logscale x
set xlabel "offered events/s" offset 0,0.5
set ylabel "CPU µs per event (utime+stime / events)"
if (!exists("sub")) sub = ""
set title "Windrow vs bare Paho MQTTAsync subscriber (same machine, same run)\n".sub
set grid
set yrange [0:*]
# column 1 subject, 3 qos, 4 keys, 5 records, 6 offered, 12 cpu_us_per_event
sel(s, q) = (strcol(1) eq s && int(column(3)) == q && int(column(4)) == 1000 && \
             int(column(5)) == 1) ? column(12) : NaN
plot csv skip 1 using 6:(sel("windrow", 0)) with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "windrow QoS 0", \
     csv skip 1 using 6:(sel("windrow", 1)) with linespoints lw 2 pt 5 lc rgb "#d62728" title "windrow QoS 1", \
     csv skip 1 using 6:(sel("paho-floor", 0)) with linespoints lw 1 pt 6 dt 2 lc rgb "#1f77b4" title "Paho floor QoS 0", \
     csv skip 1 using 6:(sel("paho-floor", 1)) with linespoints lw 1 pt 4 dt 2 lc rgb "#d62728" title "Paho floor QoS 1", \
     csv skip 1 using 6:(sel("paho-floor-error", 0)) with linespoints lw 1 pt 6 dt 3 lc rgb "#7f7f7f" title "Paho floor QoS 0, trace ERROR", \
     csv skip 1 using 6:(sel("paho-floor-error", 1)) with linespoints lw 1 pt 4 dt 3 lc rgb "#bcbd22" title "Paho floor QoS 1, trace ERROR"
