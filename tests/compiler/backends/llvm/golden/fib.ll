; ModuleID = "golden"

@"rps_rt" = external global {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}
@"rps_rt_key" = extern_weak global i32
declare ptr @"pthread_getspecific"(i32)
declare i32 @"_setjmp"(ptr) returns_twice
declare void @"longjmp"(ptr, i32) noreturn


define internal void @"rpsc.trap"(ptr %rt, i32 %code, ptr %function, ptr %location) cold noinline noreturn nounwind optnone {
entry:
  %known = icmp ne ptr %function, null
  br i1 %known, label %record, label %throw
record:
  %fp = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr %rt, i32 0, i32 4
  store ptr %function, ptr %fp
  %lp = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr %rt, i32 0, i32 5
  store ptr %location, ptr %lp
  br label %throw
throw:
  %envp = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr %rt, i32 0, i32 6
  %env = load ptr, ptr %envp
  call void @"longjmp"(ptr %env, i32 %code)
  unreachable
}

define internal fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body"(ptr %rt, i32 %room, i64 %p0) {
entry:
  %too_deep = icmp slt i32 %room, 1
  br i1 %too_deep, label %trap.3.1, label %start, !prof !0
start:
  br label %b0
b0:
  %r2 = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr %rt, i32 0, i32 0
  %r3 = load volatile i32, ptr %r2, align 4
  %r4 = icmp ne i32 %r3, 0
  br i1 %r4, label %trap.4.5, label %c6, !prof !0
c6:
  %r7 = icmp slt i64 %p0, 2
  br i1 %r7, label %b1, label %b2
b1:
  ret i64 %p0
b2:
  %r8 = sub i64 %p0, 1
  %r9 = sub i32 %room, 1
  %r10 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.1"(ptr %rt, i32 %r9, i64 %r8)
  %r11 = sub i64 %p0, 2
  %r12 = sub i32 %room, 1
  %r13 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.1"(ptr %rt, i32 %r12, i64 %r11)
  %r14 = add i64 %r10, %r13
  ret i64 %r14
trap.3.1:
  call void @"rpsc.trap"(ptr %rt, i32 3, ptr @.str.0, ptr @.str.1)
  unreachable
trap.4.5:
  call void @"rpsc.trap"(ptr %rt, i32 4, ptr @.str.0, ptr @.str.1)
  unreachable
}

define internal fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.1"(ptr %rt, i32 %room, i64 %p0) alwaysinline {
entry:
  %too_deep = icmp slt i32 %room, 1
  br i1 %too_deep, label %trap.3.1, label %start, !prof !0
start:
  br label %b0
b0:
  %r2 = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr %rt, i32 0, i32 0
  %r3 = load volatile i32, ptr %r2, align 4
  %r4 = icmp ne i32 %r3, 0
  br i1 %r4, label %trap.4.5, label %c6, !prof !0
c6:
  %r7 = icmp slt i64 %p0, 2
  br i1 %r7, label %b1, label %b2
b1:
  ret i64 %p0
b2:
  %r8 = sub i64 %p0, 1
  %r9 = sub i32 %room, 1
  %r10 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.2"(ptr %rt, i32 %r9, i64 %r8)
  %r11 = sub i64 %p0, 2
  %r12 = sub i32 %room, 1
  %r13 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.2"(ptr %rt, i32 %r12, i64 %r11)
  %r14 = add i64 %r10, %r13
  ret i64 %r14
trap.3.1:
  call void @"rpsc.trap"(ptr %rt, i32 3, ptr @.str.0, ptr @.str.1)
  unreachable
trap.4.5:
  call void @"rpsc.trap"(ptr %rt, i32 4, ptr @.str.0, ptr @.str.1)
  unreachable
}

define internal fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.2"(ptr %rt, i32 %room, i64 %p0) alwaysinline {
entry:
  %too_deep = icmp slt i32 %room, 1
  br i1 %too_deep, label %trap.3.1, label %start, !prof !0
start:
  br label %b0
b0:
  %r2 = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr %rt, i32 0, i32 0
  %r3 = load volatile i32, ptr %r2, align 4
  %r4 = icmp ne i32 %r3, 0
  br i1 %r4, label %trap.4.5, label %c6, !prof !0
c6:
  %r7 = icmp slt i64 %p0, 2
  br i1 %r7, label %b1, label %b2
b1:
  ret i64 %p0
b2:
  %r8 = sub i64 %p0, 1
  %r9 = sub i32 %room, 1
  %r10 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body"(ptr %rt, i32 %r9, i64 %r8)
  %r11 = sub i64 %p0, 2
  %r12 = sub i32 %room, 1
  %r13 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body"(ptr %rt, i32 %r12, i64 %r11)
  %r14 = add i64 %r10, %r13
  ret i64 %r14
trap.3.1:
  call void @"rpsc.trap"(ptr %rt, i32 3, ptr @.str.0, ptr @.str.1)
  unreachable
trap.4.5:
  call void @"rpsc.trap"(ptr %rt, i32 4, ptr @.str.0, ptr @.str.1)
  unreachable
}

define i32 @"rpsfn_43BDOQrMDoE01iYe0n"(ptr %result, i64 %p0) noinline optnone {
entry:
  %jmpbuf = alloca [512 x i8], align 16
  %haskey = icmp ne ptr @"rps_rt_key", null
  br i1 %haskey, label %bound, label %state
bound:
  %key = load i32, ptr @"rps_rt_key"
  %cur = call ptr @"pthread_getspecific"(i32 %key)
  br label %state
state:
  %mine = phi ptr [ null, %entry ], [ %cur, %bound ]
  %none = icmp eq ptr %mine, null
  %rt = select i1 %none, ptr @"rps_rt", ptr %mine
  %envp = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr %rt, i32 0, i32 6
  %depthp = getelementptr inbounds {i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr %rt, i32 0, i32 1
  %outer = load ptr, ptr %envp
  %depth = load i32, ptr %depthp
  %limit = load i32, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr, ptr, i32, i32}, ptr @"rps_rt", i32 0, i32 2)
  %code = call i32 @"_setjmp"(ptr %jmpbuf)
  %ok = icmp eq i32 %code, 0
  br i1 %ok, label %run, label %trapped
trapped:
  store ptr %outer, ptr %envp
  store i32 %depth, ptr %depthp
  ret i32 %code
run:
  store ptr %jmpbuf, ptr %envp
  %room = sub i32 %limit, %depth
  %value = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body"(ptr %rt, i32 %room, i64 %p0) noinline
  store ptr %outer, ptr %envp
  store i32 %depth, ptr %depthp
  store i64 %value, ptr %result
  ret i32 0
}

@.str.0 = private unnamed_addr constant [4 x i8] c"fib\00"

@.str.1 = private unnamed_addr constant [10 x i8] c"t.rps:1:1\00"

!0 = !{!"branch_weights", i32 1, i32 1048576}
