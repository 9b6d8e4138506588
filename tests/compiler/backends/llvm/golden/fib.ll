; ModuleID = "golden"

@"rps_rt" = external global {i32, i32, i32, i32, ptr, ptr}
@"rpsc.trap_env" = internal global ptr null
declare i32 @"_setjmp"(ptr) returns_twice
declare void @"longjmp"(ptr, i32) noreturn


define internal void @"rpsc.trap"(i32 %code, ptr %function, ptr %location) cold noinline noreturn nounwind optnone {
entry:
  %known = icmp ne ptr %function, null
  br i1 %known, label %record, label %throw
record:
  store ptr %function, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 4)
  store ptr %location, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 5)
  br label %throw
throw:
  %env = load ptr, ptr @"rpsc.trap_env"
  call void @"longjmp"(ptr %env, i32 %code)
  unreachable
}

define internal fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body"(i32 %room, i64 %p0) {
entry:
  %too_deep = icmp slt i32 %room, 1
  br i1 %too_deep, label %trap.3.1, label %start, !prof !0
start:
  br label %b0
b0:
  %r2 = load volatile i32, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 0), align 4
  %r3 = icmp ne i32 %r2, 0
  br i1 %r3, label %trap.4.4, label %c5, !prof !0
c5:
  %r6 = icmp slt i64 %p0, 2
  br i1 %r6, label %b1, label %b2
b1:
  ret i64 %p0
b2:
  %r7 = sub i64 %p0, 1
  %r8 = sub i32 %room, 1
  %r9 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.1"(i32 %r8, i64 %r7)
  %r10 = sub i64 %p0, 2
  %r11 = sub i32 %room, 1
  %r12 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.1"(i32 %r11, i64 %r10)
  %r13 = add i64 %r9, %r12
  ret i64 %r13
trap.3.1:
  call void @"rpsc.trap"(i32 3, ptr @.str.0, ptr @.str.1)
  unreachable
trap.4.4:
  call void @"rpsc.trap"(i32 4, ptr @.str.0, ptr @.str.1)
  unreachable
}

define internal fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.1"(i32 %room, i64 %p0) alwaysinline {
entry:
  %too_deep = icmp slt i32 %room, 1
  br i1 %too_deep, label %trap.3.1, label %start, !prof !0
start:
  br label %b0
b0:
  %r2 = load volatile i32, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 0), align 4
  %r3 = icmp ne i32 %r2, 0
  br i1 %r3, label %trap.4.4, label %c5, !prof !0
c5:
  %r6 = icmp slt i64 %p0, 2
  br i1 %r6, label %b1, label %b2
b1:
  ret i64 %p0
b2:
  %r7 = sub i64 %p0, 1
  %r8 = sub i32 %room, 1
  %r9 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.2"(i32 %r8, i64 %r7)
  %r10 = sub i64 %p0, 2
  %r11 = sub i32 %room, 1
  %r12 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.2"(i32 %r11, i64 %r10)
  %r13 = add i64 %r9, %r12
  ret i64 %r13
trap.3.1:
  call void @"rpsc.trap"(i32 3, ptr @.str.0, ptr @.str.1)
  unreachable
trap.4.4:
  call void @"rpsc.trap"(i32 4, ptr @.str.0, ptr @.str.1)
  unreachable
}

define internal fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body.2"(i32 %room, i64 %p0) alwaysinline {
entry:
  %too_deep = icmp slt i32 %room, 1
  br i1 %too_deep, label %trap.3.1, label %start, !prof !0
start:
  br label %b0
b0:
  %r2 = load volatile i32, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 0), align 4
  %r3 = icmp ne i32 %r2, 0
  br i1 %r3, label %trap.4.4, label %c5, !prof !0
c5:
  %r6 = icmp slt i64 %p0, 2
  br i1 %r6, label %b1, label %b2
b1:
  ret i64 %p0
b2:
  %r7 = sub i64 %p0, 1
  %r8 = sub i32 %room, 1
  %r9 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body"(i32 %r8, i64 %r7)
  %r10 = sub i64 %p0, 2
  %r11 = sub i32 %room, 1
  %r12 = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body"(i32 %r11, i64 %r10)
  %r13 = add i64 %r9, %r12
  ret i64 %r13
trap.3.1:
  call void @"rpsc.trap"(i32 3, ptr @.str.0, ptr @.str.1)
  unreachable
trap.4.4:
  call void @"rpsc.trap"(i32 4, ptr @.str.0, ptr @.str.1)
  unreachable
}

define i32 @"rpsfn_43BDOQrMDoE01iYe0n"(ptr %result, i64 %p0) noinline optnone {
entry:
  %jmpbuf = alloca [512 x i8], align 16
  %outer = load ptr, ptr @"rpsc.trap_env"
  %depth = load i32, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 1)
  %limit = load i32, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 2)
  %code = call i32 @"_setjmp"(ptr %jmpbuf)
  %ok = icmp eq i32 %code, 0
  br i1 %ok, label %run, label %trapped
trapped:
  store ptr %outer, ptr @"rpsc.trap_env"
  store i32 %depth, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 1)
  ret i32 %code
run:
  store ptr %jmpbuf, ptr @"rpsc.trap_env"
  %room = sub i32 %limit, %depth
  %value = call fastcc i64 @"rpsfn_43BDOQrMDoE01iYe0n.body"(i32 %room, i64 %p0) noinline
  store ptr %outer, ptr @"rpsc.trap_env"
  store i32 %depth, ptr getelementptr inbounds ({i32, i32, i32, i32, ptr, ptr}, ptr @"rps_rt", i32 0, i32 1)
  store i64 %value, ptr %result
  ret i32 0
}

@.str.0 = private unnamed_addr constant [4 x i8] c"fib\00"

@.str.1 = private unnamed_addr constant [10 x i8] c"t.rps:1:1\00"

!0 = !{!"branch_weights", i32 1, i32 1048576}
